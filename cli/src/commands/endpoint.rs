//! `--endpoint-url` (or `AWS_ENDPOINT_URL`) checked before anything connects.

use crate::cli::AwsArgs;
use crate::exit::Exit;
use crate::input::{quote, usage_error};

/// Refuses an `--endpoint-url` (or `AWS_ENDPOINT_URL`) the AWS SDK could not use, before
/// anything connects: it must be an http or https URL with a host.
pub(super) fn check_endpoint(aws: &AwsArgs) -> Result<(), Exit> {
    let (what, url) = match &aws.endpoint_url {
        Some(url) => ("--endpoint-url", url.clone()),
        None => match std::env::var("AWS_ENDPOINT_URL") {
            Ok(url) if !url.is_empty() => ("AWS_ENDPOINT_URL", url),
            _ => return Ok(()),
        },
    };
    endpoint_problem(&url).map_or(Ok(()), |why| {
        Err(usage_error(format!(
            "{what} {} is not a usable URL: {why} (expected e.g. http://127.0.0.1:5000)",
            quote(&url)
        )))
    })
}

/// What is wrong with an endpoint URL, if anything.
fn endpoint_problem(url: &str) -> Option<&'static str> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains spaces or control characters");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some("it has no http:// or https://");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Some("the scheme must be http or https");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, tail)) if h.parse::<std::net::Ipv6Addr>().is_ok() => match tail {
                "" => (h, None),
                t => match t.strip_prefix(':') {
                    Some(p) => (h, Some(p)),
                    None => return Some("the host is not valid"),
                },
            },
            _ => return Some("the host is not valid"),
        }
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Some("it has no host");
    }
    let valid_name = |h: &str| {
        h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
    };
    if !host_port.starts_with('[') && !valid_name(host.trim_end_matches('.')) {
        return Some("the host is not valid");
    }
    match port {
        Some(p) if !p.is_empty() && p.parse::<u16>().is_err() => {
            Some("the port must be a number up to 65535")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint_problem;

    #[test]
    fn endpoints() {
        for ok in [
            "http://127.0.0.1:5000",
            "https://s3.us-west-2.amazonaws.com",
            "http://localhost:4566/",
            "http://[::1]:5000",
            "HTTPS://example.com.",
            "http://moto:5000/path?x=1",
            "http://moto_server:5000",
            "http://user:pw@host:1",
        ] {
            assert_eq!(endpoint_problem(ok), None, "{ok}");
        }
        for bad in [
            "not a url",
            "127.0.0.1:5000",
            "ftp://example.com",
            "http://",
            "http://:5000",
            "http://host:port",
            "http://host:99999",
            "http://[::1",
            "http://ex ample.com",
            "http://a..b",
        ] {
            assert!(endpoint_problem(bad).is_some(), "{bad}");
        }
    }
}
