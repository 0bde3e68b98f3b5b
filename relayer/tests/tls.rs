//! Outbound TLS against real servers holding certificates of a CA this test makes: the RPC endpoint
//! behind an HTTPS proxy in front of anvil (the node checks, indexes and settles through it), and a
//! PostgreSQL started with `ssl = on` (`sslmode=verify-full`, `require`). Trusting the CA takes
//! `tls.ca_file`; without it the node refuses to start, with one line saying it is the certificate.

mod chain_support;

use std::{net::SocketAddr, path::Path, process::Command, sync::Arc, time::Duration};

use chain_support::{Engine, Net, RelayerProcess, api_only_config, wait_for};
use piecepay_protocol::{SigningKey, relayer_api::paths};
use piecepay_test_support::postgres::PostgresServer;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use sqlx::{Connection, PgConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        crypto::aws_lc_rs,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    },
};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A CA and a server certificate it signed for `localhost` and 127.0.0.1, in PEM and DER.
struct TestCa {
    ca_pem: String,
    server_pem: String,
    server_key_pem: String,
    server_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
}

fn test_ca() -> TestCa {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "piecepay test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();
    TestCa {
        ca_pem: ca_cert.pem(),
        server_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
        server_der: server_cert.der().clone(),
        server_key_der: server_key.serialize_der(),
    }
}

/// An HTTPS front for the plain-HTTP server at `upstream`, presenting the CA's server certificate.
async fn https_proxy(ca: &TestCa, upstream: SocketAddr) -> SocketAddr {
    let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![ca.server_der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ca.server_key_der.clone())),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to forward.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    address
}

/// Runs `piecepay-relayer run --config <config>` expecting it to fail; returns its last stderr line.
fn fails(config: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_piecepay-relayer"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening"));
    stderr.lines().last().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_over_https_with_a_private_ca() {
    let mut net = Net::start(1, 3_600).await;
    let ca = test_ca();
    let ca_file = net.dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let anvil: SocketAddr = net
        .info
        .rpc_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let proxy = https_proxy(&ca, anvil).await;
    let url = net.database_url(Engine::Sqlite, "https");
    let plain =
        std::fs::read_to_string(net.relayer_config(&url, "value_threshold = \"1\"")).unwrap();
    let https = plain.replace(
        &format!("rpc_url = \"{}\"", net.info.rpc_url),
        &format!("rpc_url = \"https://localhost:{}/\"", proxy.port()),
    );
    assert_ne!(https, plain);

    // Without the CA: refused before serving, saying why.
    let untrusted = net.dir.path().join("untrusted.toml");
    std::fs::write(&untrusted, &https).unwrap();
    let line = fails(&untrusted);
    assert!(line.starts_with("error[chain]:"), "{line}");
    assert!(line.to_lowercase().contains("certificate"), "{line}");

    // With it: checked, indexed and settled over TLS.
    let trusted = net.dir.path().join("trusted.toml");
    std::fs::write(&trusted, format!("{https}\n[tls]\nca_file = \"ca.pem\"\n")).unwrap();
    let relayer = RelayerProcess::start(&trusted, &net.dir.path().join("relayer.log"), &[]);
    wait_for("the node to be ready", TIMEOUT, || async {
        let response = reqwest::get(format!("{}{}", relayer.base, paths::READY))
            .await
            .ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    let payer = net.payers()[0];
    let payee = SigningKey::from_bytes(&net.payee()).unwrap().address();
    let channel_id = relayer.open_indexed(&net, &payer, payee, 1, 1_000).await;
    relayer
        .submit(&net, vec![net.receipt(&payer, payee, 1, 300)])
        .await;
    wait_for("the receipt to settle", TIMEOUT, || async {
        let status = relayer.client().settlement(channel_id).await.unwrap()?;
        (status.settled == 300).then_some(())
    })
    .await;
}

/// Turns TLS on in `server` with the CA's server certificate (files in its data directory, owned by
/// the user it runs as), and waits until new connections get it.
async fn enable_ssl(server: &PostgresServer, ca: &TestCa) {
    let admin = format!("{}?sslmode=disable", server.url("postgres"));
    let mut connection = PgConnection::connect(&admin).await.unwrap();
    let data: String = sqlx::query_scalar("SHOW data_directory")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    let data = Path::new(&data);
    let (uid, gid) = {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(data).unwrap();
        (meta.uid(), meta.gid())
    };
    for (name, text) in [
        ("server.crt", &ca.server_pem),
        ("server.key", &ca.server_key_pem),
    ] {
        use std::os::unix::fs::PermissionsExt;
        let path = data.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
    }
    for statement in [
        "ALTER SYSTEM SET ssl_cert_file = 'server.crt'",
        "ALTER SYSTEM SET ssl_key_file = 'server.key'",
        "ALTER SYSTEM SET ssl = on",
        "SELECT pg_reload_conf()",
    ] {
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
    }
    wait_for("PostgreSQL to take TLS", TIMEOUT, || async {
        let mut fresh = PgConnection::connect(&admin).await.ok()?;
        let on: String = sqlx::query_scalar("SHOW ssl")
            .fetch_one(&mut fresh)
            .await
            .ok()?;
        (on == "on").then_some(())
    })
    .await;
}

/// How many connections to database `name` are encrypted, by the server's own account.
async fn encrypted_connections(server: &PostgresServer, name: &str) -> i64 {
    let admin = format!("{}?sslmode=disable", server.url("postgres"));
    let mut connection = PgConnection::connect(&admin).await.unwrap();
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
         WHERE s.ssl AND a.datname = $1",
    )
    .bind(name)
    .fetch_one(&mut connection)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_verify_full() {
    let server = PostgresServer::start().unwrap();
    server.create_database("relayer").unwrap();
    let ca = test_ca();
    enable_ssl(&server, &ca).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.ca_pem).unwrap();
    // An API-only node: the database is what is checked here.
    let config =
        |name: &str, url: String, extra: &str| api_only_config(dir.path(), name, &url, extra);
    let localhost = |query: &str| {
        format!(
            "postgres://postgres@localhost:{}/relayer?{query}",
            server.port()
        )
    };

    // verify-full without the CA: the certificate is not trusted.
    let line = fails(&config("untrusted", localhost("sslmode=verify-full"), ""));
    assert!(line.starts_with("error[database_unreachable]:"), "{line}");
    assert!(line.contains("localhost"), "{line}");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    // verify-full with a name the certificate does not carry.
    let other_name = format!(
        "postgres://postgres@127.0.0.2:{}/relayer?sslmode=verify-full",
        server.port()
    );
    let line = fails(&config(
        "wrong-name",
        other_name,
        "[tls]\nca_file = \"ca.pem\"\n",
    ));
    assert!(line.starts_with("error[database_unreachable]:"), "{line}");

    // verify-full with the CA: serves, over TLS.
    let path = config(
        "trusted",
        localhost("sslmode=verify-full"),
        "[tls]\nca_file = \"ca.pem\"\n",
    );
    let node = RelayerProcess::start(&path, &dir.path().join("trusted.log"), &[]);
    let response = reqwest::get(format!("{}{}", node.base, paths::READY))
        .await
        .unwrap();
    let readiness: serde_json::Value = response.json().await.unwrap();
    assert_eq!(readiness["checks"][0]["name"], "database");
    assert_eq!(readiness["checks"][0]["ok"], true, "{readiness}");
    assert!(encrypted_connections(&server, "relayer").await > 0);
    drop(node);

    // sslmode=require encrypts without checking the certificate, as libpq does.
    let node = RelayerProcess::start(
        &config("require", localhost("sslmode=require"), ""),
        &dir.path().join("require.log"),
        &[],
    );
    assert!(encrypted_connections(&server, "relayer").await > 0);
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_tls_is_refused_when_tls_is_required() {
    let server = PostgresServer::shared().unwrap();
    let url = server.fresh_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = api_only_config(dir.path(), "relayer", &format!("{url}?sslmode=require"), "");
    let line = fails(&path);
    assert!(line.starts_with("error[database_unreachable]:"), "{line}");
    assert!(line.contains("does not support TLS"), "{line}");
}
