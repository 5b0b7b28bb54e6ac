//! Message extraction: the `MessageNew` / `MessageAppend` fields Dovecot fills from a message.
