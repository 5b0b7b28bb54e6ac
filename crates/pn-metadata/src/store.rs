//! The `file` backend: one user's attributes in Dovecot's file dictionary.

use std::path::PathBuf;

use pn_userdb::UserRecord;

use crate::MetadataError;
use crate::dict::{DictChange, FileDict};
use crate::key::{
    AttributeType, InternalRank, SERVER_PREFIX, internal_attribute, internal_keys_under,
    merge_internal,
};
use crate::maildir::{MailLocation, MailboxGuids, MaildirGuids, guid_to_hex, is_inbox};

/// pn's `mail_attribute_dict` when the configuration does not set it.
pub const DEFAULT_ATTRIBUTE_DICT: &str = "file:%h/dovecot-attributes";

/// Which entries an operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Server metadata (IMAP mailbox `""`): stored on INBOX under [`SERVER_PREFIX`].
    Server,
    /// A mailbox's metadata.
    Mailbox(&'a str),
}

impl Target<'_> {
    /// The mailbox the entries are stored on.
    pub fn mailbox(&self) -> &str {
        match self {
            Target::Server => "INBOX",
            Target::Mailbox(m) => m,
        }
    }

    /// The stored key for `key`.
    pub fn stored_key(&self, key: &str) -> String {
        match self {
            Target::Server => format!("{SERVER_PREFIX}{key}"),
            Target::Mailbox(_) => key.to_owned(),
        }
    }
}

/// One user's attributes in a file dictionary (`mail_attribute_dict = file:…`).
#[derive(Debug, Clone)]
pub struct FileStore<G: MailboxGuids = MaildirGuids> {
    dict: FileDict,
    location: MailLocation,
    guids: G,
}

impl FileStore<MaildirGuids> {
    /// The store of `user`: `attribute_dict` is the `mail_attribute_dict` setting and
    /// `mail_location` the `mail_location` setting (the userdb's `mail` field wins), both
    /// with `%` variables still to expand.
    pub fn for_user(
        user: &UserRecord,
        attribute_dict: &str,
        mail_location: &str,
    ) -> Result<Self, MetadataError> {
        FileStore::for_user_with(user, attribute_dict, mail_location, MaildirGuids)
    }
}

impl<G: MailboxGuids> FileStore<G> {
    /// [`FileStore::for_user`] with the mail store's own [`MailboxGuids`].
    pub fn for_user_with(
        user: &UserRecord,
        attribute_dict: &str,
        mail_location: &str,
        guids: G,
    ) -> Result<Self, MetadataError> {
        if attribute_dict.trim().is_empty() {
            return Err(MetadataError::NotEnabled);
        }
        let vars = user.vars();
        let uri =
            pn_config::vars::expand(attribute_dict, &vars).map_err(|e| MetadataError::Setting {
                setting: "mail_attribute_dict".to_owned(),
                reason: e.to_string(),
            })?;
        let location = user
            .mail_location(mail_location)
            .map_err(|e| MetadataError::Setting {
                setting: "mail_location".to_owned(),
                reason: e.to_string(),
            })?;
        let mut dict = FileDict::from_uri(&uri)?;
        // `file:~/x` is relative to the home, like Dovecot's home_expand_tilde.
        if let (Ok(rest), Some(home)) = (dict.path().strip_prefix("~"), &user.home) {
            dict = FileDict::from_uri(&format!("file:{}", home.join(rest).display()))?;
        }
        Ok(FileStore {
            dict,
            location: MailLocation::parse(&location, user.home.as_deref())?,
            guids,
        })
    }

    /// The dictionary file.
    pub fn dict_path(&self) -> PathBuf {
        self.dict.path().to_path_buf()
    }

    /// The user's mail location.
    pub fn location(&self) -> &MailLocation {
        &self.location
    }

    fn dict_key(
        &self,
        mailbox: &str,
        attr_type: AttributeType,
        key: &str,
    ) -> Result<String, MetadataError> {
        let guid = self.guids.guid(&self.location, mailbox)?;
        Ok(format!(
            "{}{}/{key}",
            crate::key::dict_prefix(attr_type),
            guid_to_hex(&guid)
        ))
    }

    /// Whether `mailbox` exists (INBOX always does).
    pub fn mailbox_exists(&self, mailbox: &str) -> bool {
        self.guids.exists(&self.location, mailbox)
    }

    /// The value of an attribute (`mailbox_attribute_get`). Internal attributes Dovecot
    /// answers from settings pn does not have (`specialuse`, server `admin`/`comment`) are
    /// never set; `comment` falls back to nothing.
    pub fn get(
        &self,
        target: Target<'_>,
        attr_type: AttributeType,
        key: &str,
    ) -> Result<Option<Vec<u8>>, MetadataError> {
        let key = target.stored_key(key);
        if key.is_empty() {
            return Ok(None);
        }
        let mailbox = target.mailbox();
        if let Some(attr) = internal_attribute(attr_type, &key)
            && attr.rank == InternalRank::Authority
            && (is_inbox(mailbox) || !key.starts_with(SERVER_PREFIX))
        {
            return Ok(None);
        }
        let dict_key = self.dict_key(mailbox, attr_type, &key)?;
        Ok(self
            .dict
            .load()?
            .get(dict_key.as_bytes())
            .map(<[u8]>::to_vec))
    }

    /// Sets (`Some`) or unsets (`None`) an attribute. The mailbox must exist.
    pub fn set(
        &self,
        target: Target<'_>,
        attr_type: AttributeType,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), MetadataError> {
        let key = target.stored_key(key);
        let mailbox = target.mailbox();
        if !self.mailbox_exists(mailbox) {
            return Err(MetadataError::MailboxNotFound {
                mailbox: mailbox.to_owned(),
            });
        }
        if let Some(attr) = internal_attribute(attr_type, &key)
            && attr.rank == InternalRank::Authority
            && (is_inbox(mailbox) || !key.starts_with(SERVER_PREFIX))
        {
            return Err(MetadataError::ReadOnly {
                key: format!("{}/{key}", attr_type.imap_prefix()),
            });
        }
        if value.is_some_and(|v| v.contains(&0)) {
            return Err(MetadataError::NulInValue);
        }
        let dict_key = self.dict_key(mailbox, attr_type, &key)?.into_bytes();
        let change = match value {
            Some(v) => DictChange::Set(dict_key, v.to_vec()),
            None => DictChange::Unset(dict_key),
        };
        self.dict.commit(&[change])?;
        Ok(())
    }

    /// The keys under `prefix` (relative to it) in Dovecot's order: the dictionary's, then
    /// the internal attributes Dovecot adds (see [`crate::key::internal_keys_under`]).
    pub fn list(
        &self,
        target: Target<'_>,
        attr_type: AttributeType,
        prefix: &str,
    ) -> Result<Vec<String>, MetadataError> {
        let prefix = target.stored_key(prefix);
        let mailbox = target.mailbox();
        let dict_prefix = self.dict_key(mailbox, attr_type, &prefix)?;
        let contents = self.dict.load()?;
        let keys: Vec<String> = contents
            .keys_with_prefix(dict_prefix.as_bytes())
            .map(|k| String::from_utf8_lossy(&k[dict_prefix.len()..]).into_owned())
            .collect();
        Ok(merge_internal(
            keys,
            &internal_keys_under(attr_type, &prefix, is_inbox(mailbox)),
        ))
    }
}
