//! The little of HTTP/1.1 the server reads: the request line and the `Authorization`
//! header of a GET (or HEAD). Pure: bytes in, a request or a status code out.

/// A request head, as far as the server cares.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// HEAD gets the headers of the GET answer without its body.
    pub head: bool,
    /// The path without its query string.
    pub path: String,
    /// The value of the `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// Where the head ends (just past the blank line), if it is complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a complete head. Err: the status to answer (400 malformed, 405 not GET/HEAD,
/// 505 not HTTP/1.x).
pub fn parse(head: &[u8]) -> Result<Request, u16> {
    let text = std::str::from_utf8(head).map_err(|_| 400u16)?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().ok_or(400u16)?.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if !version.starts_with("HTTP/1.") {
        return Err(505);
    }
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(405),
    };
    if !target.starts_with('/') {
        return Err(400);
    }
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    let mut authorization = None;
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(400u16)?;
        if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.trim().to_string());
        }
    }
    Ok(Request {
        head,
        path,
        authorization,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_or_name_their_status() {
        let r = parse(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nauthorization: Basic YTpi\r\n\r\n");
        assert_eq!(
            r,
            Ok(Request {
                head: false,
                path: "/metrics".into(),
                authorization: Some("Basic YTpi".into())
            })
        );
        assert_eq!(parse(b"HEAD / HTTP/1.0\r\n\r\n").map(|r| r.head), Ok(true));
        let cases: [(&[u8], u16); 6] = [
            (b"POST / HTTP/1.1\r\n\r\n", 405),
            (b"GET / HTTP/2\r\n\r\n", 505),
            (b"GET /\r\n\r\n", 400),
            (b"GET http://x/ HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\xff\r\n\r\n", 400),
        ];
        for (head, status) in cases {
            assert_eq!(
                parse(head),
                Err(status),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
