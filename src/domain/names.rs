//! Resource ids and names: `influencers/{id}` and friends.

/// A collection of the API and the resource name prefix of its members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// `influencers/{id}`
    Influencers,
    /// `channels/{id}`
    Channels,
    /// `campaigns/{id}`
    Campaigns,
    /// `segments/{id}`
    Segments,
    /// `goals/{id}`
    Goals,
    /// `kpiDefinitions/{id}`
    KpiDefinitions,
    /// `jobs/{id}`
    Jobs,
    /// `jobRuns/{id}`
    JobRuns,
    /// `tenants/{id}` (TenantService, for the operator)
    Tenants,
}

impl Collection {
    /// The collection id used in resource names.
    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Influencers => "influencers",
            Collection::Channels => "channels",
            Collection::Campaigns => "campaigns",
            Collection::Segments => "segments",
            Collection::Goals => "goals",
            Collection::KpiDefinitions => "kpiDefinitions",
            Collection::Jobs => "jobs",
            Collection::JobRuns => "jobRuns",
            Collection::Tenants => "tenants",
        }
    }

    /// The resource name of `id` in this collection.
    pub fn name(self, id: &str) -> String {
        format!("{}/{id}", self.as_str())
    }

    /// The id in a resource name of this collection, validated.
    pub fn parse(self, name: &str) -> Result<&str, String> {
        let prefix = self.as_str();
        let Some(id) = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('/'))
        else {
            return Err(if name.is_empty() {
                format!("is required: a resource name `{prefix}/{{id}}`")
            } else {
                format!(
                    "`{}` is not a resource name `{prefix}/{{id}}`",
                    shorten(name)
                )
            });
        };
        check_id(id).map(|()| id)
    }
}

/// Checks a resource id: 1 to 63 of `a-z`, `0-9`, `-`, starting with a letter (AIP-122).
pub fn check_id(id: &str) -> Result<(), String> {
    let valid = (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid id: use 1 to 63 characters of a-z, 0-9 and -, starting with a letter and not ending with -",
            shorten(id)
        ))
    }
}

/// A new random id, such as `i7f3a9c2e41b0d58a`, starting with the collection's letter.
pub fn generate_id(collection: Collection) -> String {
    let letter = &collection.as_str()[..1];
    let uuid = uuid::Uuid::new_v4().simple().to_string();
    format!("{letter}{}", &uuid[..16])
}

/// At most 80 characters of untrusted input, for error messages.
pub fn shorten(value: &str) -> String {
    if value.chars().count() <= 80 {
        value.to_string()
    } else {
        let mut short: String = value.chars().take(77).collect();
        short.push_str("...");
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_of_its_own_collection_only() {
        assert_eq!(
            Collection::Influencers.parse("influencers/anna"),
            Ok("anna")
        );
        assert!(Collection::Influencers.parse("channels/anna").is_err());
        assert!(Collection::Influencers.parse("influencers/").is_err());
        assert!(Collection::Influencers.parse("influencers/Anna").is_err());
        assert!(Collection::Influencers.parse("influencers/a/b").is_err());
        assert!(
            Collection::Influencers
                .parse("")
                .unwrap_err()
                .contains("required")
        );
    }

    #[test]
    fn generated_ids_are_valid() {
        for collection in [Collection::Influencers, Collection::Goals] {
            let id = generate_id(collection);
            assert_eq!(check_id(&id), Ok(()));
            assert!(id.starts_with(&collection.as_str()[..1]));
        }
    }

    #[test]
    fn ids_have_bounds() {
        assert!(check_id(&"a".repeat(63)).is_ok());
        assert!(check_id(&"a".repeat(64)).is_err());
        assert!(check_id("1abc").is_err());
        assert!(check_id("abc-").is_err());
        assert!(check_id("").is_err());
    }
}
