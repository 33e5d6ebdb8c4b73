//! Tests of config loading.
