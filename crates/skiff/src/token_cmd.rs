//! `skiff token create|list|delete`: bootstrap tokens as `kubeadm token` keeps them —
//! Secrets `bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token` in kube-system —
//! managed through the API with the admin kubeconfig.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, ListParams, PostParams};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const NAMESPACE: &str = "kube-system";
const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
const NAME_PREFIX: &str = "bootstrap-token-";

#[derive(clap::Args)]
pub struct TokenArgs {
    /// The kubeconfig to reach the server with (default: <data dir>/admin.kubeconfig).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// The server's data dir (where the admin kubeconfig is).
    #[arg(long, global = true, default_value = "/var/lib/skiff")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// Create a bootstrap token (a new random one unless TOKEN is given) and print it.
    Create(CreateArgs),
    /// List the bootstrap tokens.
    List,
    /// Delete bootstrap tokens by id (`abcdef`) or whole token (`abcdef.0123456789abcdef`).
    Delete {
        #[arg(required = true)]
        tokens: Vec<String>,
    },
}

#[derive(clap::Args)]
struct CreateArgs {
    /// The token to create (`[a-z0-9]{6}.[a-z0-9]{16}`); without it, a random one.
    token: Option<String>,
    /// How long until the token expires (0: never).
    #[arg(long, default_value = "24h", value_parser = ttl)]
    ttl: Duration,
    /// A human-readable note kept with the token.
    #[arg(long, default_value = "")]
    description: String,
    /// What the token may be used for.
    #[arg(long, value_delimiter = ',', default_value = "signing,authentication")]
    usages: Vec<String>,
    /// Extra groups the token authenticates with (each `system:bootstrappers:...`).
    #[arg(long, value_delimiter = ',', default_value = apiserver::NODE_BOOTSTRAP_GROUP)]
    groups: Vec<String>,
}

/// A TTL flag: a Go duration, or `0` for a token that never expires.
fn ttl(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    crate::go_duration(s)
}

pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let kubeconfig = args
        .kubeconfig
        .clone()
        .unwrap_or_else(|| args.data_dir.join("admin.kubeconfig"));
    // Checked before any connection: a bad flag should not wait on a server.
    let new_secret = match &args.command {
        TokenCommand::Create(c) => Some(secret_for(c, OffsetDateTime::now_utc())?),
        _ => None,
    };
    let client = crate::kube_client(&kubeconfig, "skiff-token").await?;
    let secrets: kube::Api<Secret> = kube::Api::namespaced(client, NAMESPACE);
    match args.command {
        TokenCommand::Create(_) => {
            let (token, secret) = new_secret.context("token secret")?;
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .context("creating the bootstrap token secret")?;
            println!("{token}");
        }
        TokenCommand::List => {
            let list = secrets
                .list(&ListParams::default())
                .await
                .context("listing secrets in kube-system")?;
            let rows: Vec<[String; 6]> = list
                .items
                .iter()
                .filter_map(|s| row(s, OffsetDateTime::now_utc()))
                .collect();
            print!("{}", table(&rows));
        }
        TokenCommand::Delete { tokens } => {
            for t in tokens {
                let id = match apiserver::split_bootstrap_token(&t) {
                    Some((id, _)) => id.to_string(),
                    None if is_token_id(&t) => t.clone(),
                    None => anyhow::bail!(
                        "{t:?} is neither a token id ([a-z0-9]{{6}}) nor a token ([a-z0-9]{{6}}.[a-z0-9]{{16}})"
                    ),
                };
                secrets
                    .delete(&format!("{NAME_PREFIX}{id}"), &DeleteParams::default())
                    .await
                    .with_context(|| format!("deleting bootstrap token {id:?}"))?;
                println!("bootstrap token {id:?} deleted");
            }
        }
    }
    Ok(())
}

fn is_token_id(s: &str) -> bool {
    s.len() == 6
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Upstream's rule for extra groups: inside `system:bootstrappers:`, lowercase.
fn valid_group(g: &str) -> bool {
    let Some(rest) = g.strip_prefix("system:bootstrappers:") else {
        return false;
    };
    !rest.is_empty()
        && rest.len() <= 256
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-')
        && rest
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The token and the Secret that makes it valid, for `create` at `now`.
fn secret_for(args: &CreateArgs, now: OffsetDateTime) -> anyhow::Result<(String, Secret)> {
    let token = match &args.token {
        Some(t) => {
            apiserver::split_bootstrap_token(t).with_context(|| {
                format!("token {t:?} does not match [a-z0-9]{{6}}.[a-z0-9]{{16}}")
            })?;
            t.clone()
        }
        None => apiserver::JoinToken::generate().bearer(),
    };
    let (id, secret) = apiserver::split_bootstrap_token(&token).context("generated token")?;
    let mut data: BTreeMap<String, ByteString> = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        data.insert(k.to_string(), ByteString(v.as_bytes().to_vec()));
    };
    put("token-id", id);
    put("token-secret", secret);
    if !args.description.is_empty() {
        put("description", &args.description);
    }
    if !args.ttl.is_zero() {
        let expiry = now.replace_nanosecond(0).unwrap_or(now)
            + time::Duration::seconds(i64::try_from(args.ttl.as_secs()).unwrap_or(i64::MAX / 2));
        put("expiration", &expiry.format(&Rfc3339)?);
    }
    for u in &args.usages {
        match u.trim() {
            "signing" | "authentication" => put(&format!("usage-bootstrap-{}", u.trim()), "true"),
            other => anyhow::bail!("--usages: unknown usage {other:?} (signing, authentication)"),
        }
    }
    let groups: Vec<&str> = args
        .groups
        .iter()
        .map(|g| g.trim())
        .filter(|g| !g.is_empty())
        .collect();
    if let Some(bad) = groups.iter().find(|g| !valid_group(g)) {
        anyhow::bail!("--groups: {bad:?} must match system:bootstrappers:[a-z0-9:-]*[a-z0-9]");
    }
    if !groups.is_empty() {
        if !args.usages.iter().any(|u| u.trim() == "authentication") {
            anyhow::bail!("--groups needs the authentication usage");
        }
        put("auth-extra-groups", &groups.join(","));
    }
    let obj = Secret {
        metadata: ObjectMeta {
            name: Some(format!("{NAME_PREFIX}{id}")),
            namespace: Some(NAMESPACE.into()),
            ..Default::default()
        },
        type_: Some(SECRET_TYPE.into()),
        data: Some(data),
        ..Default::default()
    };
    Ok((token, obj))
}

/// TOKEN TTL EXPIRES USAGES DESCRIPTION EXTRA GROUPS for a bootstrap token Secret.
fn row(s: &Secret, now: OffsetDateTime) -> Option<[String; 6]> {
    if s.type_.as_deref() != Some(SECRET_TYPE) {
        return None;
    }
    let data = s.data.as_ref()?;
    let get = |k: &str| {
        data.get(k)
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    };
    let token = format!("{}.{}", get("token-id")?, get("token-secret")?);
    let (ttl, expires) = match get("expiration") {
        None => ("<forever>".to_string(), "<never>".to_string()),
        Some(e) => match OffsetDateTime::parse(&e, &Rfc3339) {
            Ok(t) => (short_duration((t - now).whole_seconds()), e),
            Err(_) => ("<invalid>".to_string(), e),
        },
    };
    let mut usages: Vec<&str> = data
        .iter()
        .filter(|(_, v)| v.0 == b"true")
        .filter_map(|(k, _)| k.strip_prefix("usage-bootstrap-"))
        .collect();
    usages.sort_unstable();
    let or_none = |v: Option<String>| {
        v.filter(|s| !s.is_empty())
            .unwrap_or_else(|| "<none>".into())
    };
    Some([
        token,
        ttl,
        expires,
        usages.join(","),
        or_none(get("description")),
        or_none(get("auth-extra-groups")),
    ])
}

/// Seconds as upstream's short human durations print them (`23h`, `6d`, `<invalid>` once
/// passed).
fn short_duration(secs: i64) -> String {
    match secs {
        s if s < 0 => "<invalid>".into(),
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s if s < 365 * 24 * 3600 * 2 => format!("{}d", s / (24 * 3600)),
        s => format!("{}y", s / (365 * 24 * 3600)),
    }
}

fn table(rows: &[[String; 6]]) -> String {
    let header = [
        "TOKEN",
        "TTL",
        "EXPIRES",
        "USAGES",
        "DESCRIPTION",
        "EXTRA GROUPS",
    ]
    .map(String::from);
    let all: Vec<&[String; 6]> = std::iter::once(&header).chain(rows).collect();
    let widths: Vec<usize> = (0..6)
        .map(|i| all.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in all {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 5 {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn args(token: Option<&str>, ttl: &str, groups: &[&str], usages: &[&str]) -> CreateArgs {
        CreateArgs {
            token: token.map(str::to_string),
            ttl: super::ttl(ttl).expect("ttl"),
            description: "for tests".into(),
            usages: usages.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn create_then_list() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        let group = ["system:bootstrappers:skiff:default-node-token"];
        let both = ["signing", "authentication"];
        let cases = [
            args(Some("abcdef.0123456789abcdef"), "24h", &group, &both),
            args(Some("zzzzzz.0123456789abcdef"), "0", &[], &["signing"]),
            args(
                Some("abcdef.0123456789abcdef"),
                "2s",
                &["system:masters"],
                &both,
            ),
            args(Some("abcdef.0123456789abcdef"), "2s", &group, &["signing"]),
            args(Some("ABCDEF.0123456789abcdef"), "2s", &[], &both),
            args(Some("abcdef.0123456789abcdef"), "2s", &[], &["sign"]),
        ];
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for a in &cases {
            match secret_for(a, now) {
                Ok((token, s)) => {
                    assert_eq!(
                        s.metadata.name.as_deref(),
                        Some(&*format!("bootstrap-token-{}", &token[..6]))
                    );
                    rows.extend(row(&s, now));
                    // Later: 10 s on, the first token still has about a day left.
                    rows.extend(row(&s, now + time::Duration::seconds(10)));
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        expect![[r#"
            TOKEN                     TTL         EXPIRES                USAGES                   DESCRIPTION   EXTRA GROUPS
            abcdef.0123456789abcdef   24h         2027-01-16T08:00:00Z   authentication,signing   for tests     system:bootstrappers:skiff:default-node-token
            abcdef.0123456789abcdef   23h         2027-01-16T08:00:00Z   authentication,signing   for tests     system:bootstrappers:skiff:default-node-token
            zzzzzz.0123456789abcdef   <forever>   <never>                signing                  for tests     <none>
            zzzzzz.0123456789abcdef   <forever>   <never>                signing                  for tests     <none>
            --groups: "system:masters" must match system:bootstrappers:[a-z0-9:-]*[a-z0-9]
            --groups needs the authentication usage
            token "ABCDEF.0123456789abcdef" does not match [a-z0-9]{6}.[a-z0-9]{16}
            --usages: unknown usage "sign" (signing, authentication)"#]].assert_eq(&format!("{}{}", table(&rows), errors.join("\n")));
    }

    #[test]
    fn generated_tokens_have_the_bootstrap_format() {
        let (token, _) = secret_for(
            &args(None, "1h", &[], &["signing"]),
            OffsetDateTime::now_utc(),
        )
        .expect("token");
        assert!(
            apiserver::split_bootstrap_token(&token).is_some(),
            "{token}"
        );
    }

    #[test]
    fn short_durations() {
        let got: Vec<String> = [-1, 0, 2, 119, 120, 7199, 7200, 86399, 172800, 63_072_000]
            .iter()
            .map(|s| short_duration(*s))
            .collect();
        expect!["<invalid> 0s 2s 119s 2m 119m 2h 23h 2d 2y"].assert_eq(&got.join(" "));
    }
}
