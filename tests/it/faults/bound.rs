//! A tiny outbox with the broker down (test 4), and `sitewarden outbox`.
