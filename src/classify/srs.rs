//! Sender Rewriting Scheme addresses: a forwarder's envelope-from that carries the original
//! sender (`SRS0=HHH=TT=orig.example=user@forwarder.example`, `SRS1=...`).

/// What an SRS address says about the original sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrsAddress {
    /// The original envelope-from domain.
    pub original_domain: String,
    /// The original local part.
    pub original_local: String,
    /// The domain that rewrote it (the domain of the SRS address).
    pub forwarder: String,
}

/// Decode an SRS0 or SRS1 address (any case: some receivers lower-case it). Separators
/// after the tag may be `=`, `+` or `-`. `None` when it is not SRS.
pub fn decode(address: &str) -> Option<SrsAddress> {
    let (local, forwarder) = address.rsplit_once('@')?;
    let tag = local.get(..4)?;
    let sep = local.get(4..5)?;
    if !matches!(sep, "=" | "+" | "-") {
        return None;
    }
    let rest = local.get(5..)?;
    let payload = if tag.eq_ignore_ascii_case("SRS0") {
        rest
    } else if tag.eq_ignore_ascii_case("SRS1") {
        // SRS1=HHH=first-forwarder==HHH=TT=domain=local
        rest.split_once("==")?.1
    } else {
        return None;
    };
    let mut parts = payload.splitn(4, '=');
    let _hash = parts.next()?;
    let _timestamp = parts.next()?;
    let domain = parts.next()?;
    let original_local = parts.next()?;
    if domain.is_empty() || original_local.is_empty() || !domain.contains('.') {
        return None;
    }
    Some(SrsAddress {
        original_domain: domain.to_ascii_lowercase(),
        original_local: original_local.to_string(),
        forwarder: forwarder.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srs0_and_srs1_decode() {
        let a = decode("SRS0=tNxH=YJ=mg.example.org=bounce+5cff=club1.fr@fwd.example.net").unwrap();
        assert_eq!(a.original_domain, "mg.example.org");
        assert_eq!(a.original_local, "bounce+5cff=club1.fr");
        assert_eq!(a.forwarder, "fwd.example.net");
        let b =
            decode("srs1=abcd=first.example==efgh=ZZ=orig.example=user@second.example").unwrap();
        assert_eq!(b.original_domain, "orig.example");
        assert_eq!(b.original_local, "user");
    }

    #[test]
    fn ordinary_addresses_are_not_srs() {
        assert_eq!(decode("user@example.com"), None);
        assert_eq!(decode("SRS0@example.com"), None);
        assert_eq!(decode("srs0=x@example.com"), None);
        assert_eq!(decode(""), None);
    }
}
