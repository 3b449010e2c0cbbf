//! `hygge debug`'s probe of a cloud folder: list it, then (for a store) write a small object
//! in hygge's scratch space `<prefix>/_hygge/probe-<unique>`, read it back and delete it.
//! A function of a [`Location`] and a prefix, so stores and homes share it (a home probes
//! with [`Access::Read`] and writes nothing).
//!
//! Every failure names the account URL (or bucket), the container and the key, never a
//! secret (messages pass [`redact`]), and says what to do: a credential that was refused, a
//! container or bucket that does not exist, an identity that may read but not write or
//! delete, an endpoint that cannot be reached.

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode};

use super::location::{Location, redact};
use super::store::HYGGE_DIR;
use crate::error::CheckFailed;

/// What a probe may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// List only (a home).
    Read,
    /// List, then write, read back and delete a probe object (a store).
    ReadWrite,
}

/// Probes `prefix` (no leading or trailing `/`) in `location` through `client`. Returns
/// what it did, one line each, the credential source first; no probe object is left
/// behind, whatever fails after it was written.
pub async fn probe(
    location: &Location,
    client: &dyn ObjectStore,
    prefix: &str,
    access: Access,
) -> Result<Vec<String>, CheckFailed> {
    let p = Prober {
        location,
        secrets: location.secrets(),
    };
    let mut lines = vec![format!("credential: {}", location.credential_source())];

    // List (one page is enough to know the container, the credential and the permission).
    let mut listed = 0usize;
    let mut stream = client.list(Some(&Key::from(prefix)));
    while let Some(m) = stream.next().await {
        match m {
            Ok(_) => listed += 1,
            Err(e) => return Err(p.fail(Step::List, prefix, &e)),
        }
        if listed >= 1000 {
            break;
        }
    }
    drop(stream);
    lines.push(format!(
        "listed {}/ ({}{listed} object{})",
        location.url_of(prefix),
        if listed >= 1000 { "at least " } else { "" },
        if listed == 1 { "" } else { "s" }
    ));
    if access == Access::Read {
        return Ok(lines);
    }

    // Write, read back, delete.
    let name = format!("{HYGGE_DIR}/probe-{}", unique());
    let key_text = if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    };
    let key = Key::from(key_text.as_str());
    let body = Bytes::from(format!(
        "hygge debug probe: written to check this store can be written; deleted at once ({key_text})\n"
    ));
    if let Err(e) = client
        .put_opts(&key, body.clone().into(), PutMode::Create.into())
        .await
    {
        // A put that failed may still have landed: never leave it.
        let _ = client.delete(&key).await;
        return Err(p.fail(Step::Write, &key_text, &e));
    }
    let read = match client.get(&key).await {
        Ok(g) => g.bytes().await,
        Err(e) => Err(e),
    };
    let deleted = client.delete(&key).await;
    match read {
        Err(e) => return Err(p.fail(Step::Read, &key_text, &e)),
        Ok(b) if b != body => {
            return Err(CheckFailed {
                message: format!(
                    "the probe object {} read back differs from what was written ({} bytes instead of {})",
                    location.url_of(&key_text),
                    b.len(),
                    body.len()
                ),
                fix: "something between hygge and the storage changes objects (a proxy?); check the endpoint in the store's keys".into(),
            });
        }
        Ok(_) => {}
    }
    match deleted {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(p.fail(Step::Delete, &key_text, &e)),
    }
    lines.push(format!(
        "wrote, read back and deleted {}",
        location.url_of(&key_text)
    ));
    Ok(lines)
}

/// A name no other probe uses: this process, the time, a counter.
fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.9fZ"),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    List,
    Write,
    Read,
    Delete,
}

/// Why a request failed, as far as the error tells.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Why {
    /// The credential itself was refused (wrong key or secret, expired token).
    BadCredential,
    /// Signed in, but not allowed.
    NotAllowed,
    /// The container or bucket does not exist.
    NoContainer,
    /// No answer from the endpoint.
    Unreachable,
    Other,
}

/// A server's XML error body (Azure, S3) cut to its code and the first line of its
/// message: `403 Forbidden: <?xml ...<Code>X</Code><Message>Y...` -> `403 Forbidden: X: Y`.
fn tidy(text: &str) -> String {
    let Some(start) = text.find("<?xml") else {
        return text.to_string();
    };
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let from = text.find(&open)? + open.len();
        let to = text[from..].find(&format!("</{name}>"))? + from;
        text[from..to].lines().next().map(|l| l.trim().to_string())
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("{}{c}: {m}", &text[..start]),
        (Some(c), None) => format!("{}{c}", &text[..start]),
        _ => text.to_string(),
    }
}

/// The error with its sources, as one text.
fn full_text(e: &object_store::Error) -> String {
    let mut out = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

fn why(e: &object_store::Error) -> Why {
    let t = full_text(e);
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if has(&["ContainerNotFound", "NoSuchBucket", "FilesystemNotFound"]) {
        return Why::NoContainer;
    }
    if matches!(e, object_store::Error::Unauthenticated { .. })
        || has(&[
            "AuthenticationFailed",
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId",
            "InvalidToken",
            "ExpiredToken",
            "InvalidAuthenticationInfo",
            "401 Unauthorized",
        ])
    {
        return Why::BadCredential;
    }
    if matches!(e, object_store::Error::PermissionDenied { .. })
        || has(&[
            "AuthorizationPermissionMismatch",
            "AuthorizationFailure",
            "AccessDenied",
            "403 Forbidden",
        ])
    {
        return Why::NotAllowed;
    }
    if has(&[
        "error sending request",
        "Connection refused",
        "connection refused",
        "dns error",
        "tcp connect",
        "timed out",
    ]) {
        return Why::Unreachable;
    }
    if matches!(e, object_store::Error::NotFound { .. }) || has(&["404 Not Found"]) {
        return Why::NoContainer;
    }
    Why::Other
}

struct Prober<'a> {
    location: &'a Location,
    secrets: Vec<String>,
}

impl Prober<'_> {
    fn fail(&self, step: Step, key: &str, e: &object_store::Error) -> CheckFailed {
        let l = self.location;
        let op = match step {
            Step::List => "list",
            Step::Write => "write the probe object",
            Step::Read => "read back the probe object",
            Step::Delete => "delete the probe object",
        };
        let url = l.url_of(key);
        let source = l.credential_source();
        let (container, account) = match l {
            Location::Azure(a) => (format!("container {}", a.container), a.account_url.clone()),
            Location::S3(s) => (
                format!("bucket {}", s.bucket),
                s.endpoint.clone().unwrap_or_else(|| "S3".into()),
            ),
            Location::Gcs(g) => (format!("bucket {}", g.bucket), "GCS".into()),
        };
        let write_role = match l {
            Location::Azure(_) => {
                "the role Storage Blob Data Contributor on the container (a SAS token: permissions r, w, c, d and l)"
            }
            Location::S3(_) => "s3:PutObject, s3:GetObject and s3:DeleteObject on the path",
            Location::Gcs(_) => "the role Storage Object User on the bucket",
        };
        let fix = match (why(e), step) {
            (Why::NoContainer, Step::List) => format!(
                "the {container} does not exist in {account} (or this credential cannot see it): create it, or correct the store's {} key",
                match l {
                    Location::Azure(_) => "`filesystem`",
                    _ => "`bucket`",
                }
            ),
            (Why::BadCredential, _) => format!(
                "{account} refused the credential ({source}): it is wrong, rotated or expired; correct it in the store's keys (or the connection's variables)"
            ),
            (Why::NotAllowed, Step::List) => format!(
                "{account} refused {source} (a wrong key or secret is refused this way too): check the credential, and that it may list the {container} ({})",
                match l {
                    Location::Azure(_) => "the role Storage Blob Data Reader or Contributor",
                    Location::S3(_) => "s3:ListBucket",
                    Location::Gcs(_) => "the role Storage Object Viewer or User",
                }
            ),
            (Why::NotAllowed, Step::Write) => format!(
                "{source} may list the {container} but not write to it: give it {write_role}"
            ),
            (Why::NotAllowed, Step::Read) => {
                format!("{source} may write to the {container} but not read: give it {write_role}")
            }
            (Why::NotAllowed, Step::Delete) => format!(
                "{source} may write to the {container} but not delete (hygge deletes replaced files, its staging and its lock): give it {write_role}; remove {url} by hand"
            ),
            (Why::Unreachable, _) => format!(
                "no answer from {account}: check the account URL or endpoint, DNS, a proxy (HTTPS_PROXY) or a firewall"
            ),
            _ => {
                format!("check the store's keys (account, {container}, path, credential: {source})")
            }
        };
        CheckFailed {
            message: redact(
                &format!("cannot {op} {url} ({source}): {}", tidy(&full_text(e))),
                &self.secrets,
            ),
            fix: redact(&fix, &self.secrets),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_xml_error_body_is_cut_to_its_code_and_message() {
        let t = "list: Server returned non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?>\n<Error>\n  <Code>ContainerNotFound</Code>\n  <Message>The specified container does not exist.\nRequestId:1</Message>\n</Error>";
        assert_eq!(
            tidy(t),
            "list: Server returned non-2xx status code: 404 Not Found: ContainerNotFound: The specified container does not exist."
        );
        assert_eq!(tidy("no xml here"), "no xml here");
    }
}
