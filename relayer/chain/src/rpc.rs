//! The JSON-RPC endpoint: its URL checked, and a provider over HTTP(S) with timeouts and the platform's
//! root certificates, plus any extra ones (a private endpoint's CA).
//!
//! Only `http://` and `https://`: the relayer polls (blocks, logs, receipts), which is what HTTP does
//! well, and every public provider serves it; a `ws://`/`wss://` URL is refused with that reason rather
//! than accepted and retried forever.
//!
//! **Secrets in URLs.** Hosted endpoints carry an API key in the path or query
//! (`https://mainnet.example.io/v3/<key>`), and transport errors repeat the whole URL. The URL is shown
//! as [`redacted`] (scheme, host, port) wherever this crate writes it, and every URL [`connect`]ed is
//! struck from the text of [`Error::Rpc`].

use std::{
    sync::{PoisonError, RwLock},
    time::Duration,
};

use alloy::{
    eips::BlockNumberOrTag,
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::{client::RpcClient, types::Block},
};
pub use url::Url;

use crate::{Causes, Error, Result};

/// How long one JSON-RPC request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long establishing a connection (TCP and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// URLs connected to, with what to show instead: see [`redact`].
static SECRETS: RwLock<Vec<(String, String)>> = RwLock::new(Vec::new());

/// Parses `text` as a JSON-RPC endpoint: `http://` or `https://`, with a host. The error says what is
/// wrong, without repeating the URL (it may hold a key).
pub fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            "not a URL: give the scheme too, e.g. http://127.0.0.1:8545 or https://rpc.example"
                .into()
        }
        other => format!("not a URL ({other})"),
    })?;
    match url.scheme() {
        "http" | "https" => {}
        "ws" | "wss" => {
            return Err(format!(
                "{}:// is not supported: the relayer polls over HTTP; use the provider's https:// \
                 endpoint",
                url.scheme()
            ));
        }
        other => return Err(format!("scheme {other}: is not http:// or https://")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(url)
}

/// `url` without anything that may be a secret: `https://rpc.example:443`.
pub fn redacted(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// Parses extra root certificates (PEM, one or more) that endpoints' certificates may chain to, in
/// addition to the platform's. The error says what is wrong with them.
pub fn root_certificates(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    let certificates = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| format!("not PEM certificates ({e})"))?;
    if certificates.is_empty() {
        return Err("no PEM certificate in it".into());
    }
    // The certificates are only decoded when a client trusts them.
    reqwest::Client::builder()
        .tls_certs_merge(certificates.iter().cloned())
        .build()
        .map_err(|e| format!("not usable as root certificates ({})", Causes(&e)))?;
    Ok(certificates)
}

/// A provider for `url` trusting the platform's roots and `extra_roots`. Sends nothing yet.
pub fn connect(url: &Url, extra_roots: &[reqwest::Certificate]) -> Result<DynProvider> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .tls_certs_merge(extra_roots.iter().cloned())
        .build()
        .map_err(|e| Error::rpc(format!("an HTTP client for {}", redacted(url)), e))?;
    let shown = redacted(url);
    {
        let mut secrets = SECRETS.write().unwrap_or_else(PoisonError::into_inner);
        let full = url.as_str().trim_end_matches('/').to_owned();
        if full != shown && !secrets.iter().any(|(s, _)| *s == full) {
            secrets.push((full, shown));
        }
    }
    let client = RpcClient::new_http_with_client(client, url.clone());
    Ok(ProviderBuilder::default().connect_client(client).erased())
}

/// The node's latest block (its header: base fee, timestamp). A node with none is an [`Error::Rpc`].
pub async fn latest_block(provider: &DynProvider) -> Result<Block> {
    const WHAT: &str = "eth_getBlockByNumber(latest)";
    provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .map_err(Error::rpc_of(WHAT))?
        .ok_or_else(|| Error::rpc(WHAT, "the node has no latest block"))
}

/// `text` with every URL [`connect`]ed replaced by its [`redacted`] form.
pub(crate) fn redact(text: &str) -> String {
    let secrets = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    let mut text = text.to_owned();
    for (secret, shown) in secrets.iter() {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), shown);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_http_or_https_with_a_host() {
        assert!(parse_url("http://127.0.0.1:8545").is_ok());
        assert!(parse_url("https://rpc.example/v3/secret").is_ok());
        for (bad, why) in [
            ("not a url", "not a URL"),
            ("localhost:8545", "scheme localhost"),
            ("127.0.0.1:8545", "not a URL"),
            ("ws://127.0.0.1:8545", "ws:// is not supported"),
            ("wss://rpc.example", "wss:// is not supported"),
            ("ftp://rpc.example", "scheme ftp"),
            ("http://", "not a URL"),
        ] {
            let error = parse_url(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn keys_in_urls_are_not_shown() {
        let url = parse_url("https://rpc.example/v3/0123456789abcdef?key=s3cret").unwrap();
        assert_eq!(redacted(&url), "https://rpc.example");
        let url = parse_url("http://127.0.0.1:8545/").unwrap();
        assert_eq!(redacted(&url), "http://127.0.0.1:8545");
        let secret = parse_url("https://node.example/v3/topsecretkey").unwrap();
        connect(&secret, &[]).unwrap();
        let error = Error::rpc(
            "eth_chainId",
            "error sending request for url (https://node.example/v3/topsecretkey)",
        );
        let text = error.to_string();
        assert!(!text.contains("topsecretkey"), "{text}");
        assert!(text.contains("https://node.example"), "{text}");
    }

    #[test]
    fn extra_roots_must_be_pem_certificates() {
        assert!(root_certificates(b"").unwrap_err().contains("no PEM"));
        assert!(
            root_certificates(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}
