//! Typed access to a message's dictionary, for decoding and encoding alike.

use std::collections::BTreeMap;

use piecepay_protocol::{
    CompactSignature,
    alloy_primitives::{Address, B256},
};

use super::{Amount, Code, MAX_AMOUNT, MAX_TEXT_LEN};
use crate::{Error, Result, bencode::Value};

/// The fields of one received message, read by name with their type and range checked.
pub(crate) struct Reader<'a> {
    message: &'static str,
    dict: &'a BTreeMap<Vec<u8>, Value>,
}

impl<'a> Reader<'a> {
    pub(crate) const fn new(message: &'static str, dict: &'a BTreeMap<Vec<u8>, Value>) -> Self {
        Self { message, dict }
    }

    fn invalid(&self, field: &'static str, reason: &'static str) -> Error {
        Error::InvalidField {
            message: self.message,
            field,
            reason,
        }
    }

    fn get(&self, field: &'static str) -> Result<&'a Value> {
        self.opt(field).ok_or(Error::MissingField {
            message: self.message,
            field,
        })
    }

    fn opt(&self, field: &'static str) -> Option<&'a Value> {
        self.dict.get(field.as_bytes())
    }

    /// Whether `field` is present, whatever its value.
    pub(crate) fn has(&self, field: &'static str) -> bool {
        self.opt(field).is_some()
    }

    fn int_in(&self, field: &'static str, value: &Value, max: i128) -> Result<i128> {
        let int = value
            .as_int()
            .ok_or_else(|| self.invalid(field, "not an integer"))?;
        if !(0..=max).contains(&int) {
            return Err(self.invalid(field, "out of range"));
        }
        Ok(int)
    }

    fn bytes_of(&self, field: &'static str, value: &'a Value, len: usize) -> Result<&'a [u8]> {
        let bytes = value
            .as_bytes()
            .ok_or_else(|| self.invalid(field, "not a byte string"))?;
        if bytes.len() != len {
            return Err(self.invalid(field, "wrong length"));
        }
        Ok(bytes)
    }

    /// A token amount: an integer in `0..=2^96 − 1`.
    pub(crate) fn amount(&self, field: &'static str) -> Result<Amount> {
        let int = self.int_in(field, self.get(field)?, MAX_AMOUNT as i128)?;
        Ok(int as Amount)
    }

    /// An optional [`amount`](Self::amount).
    pub(crate) fn opt_amount(&self, field: &'static str) -> Result<Option<Amount>> {
        self.has(field).then(|| self.amount(field)).transpose()
    }

    /// An integer in `0..=u32::MAX`.
    pub(crate) fn u32(&self, field: &'static str) -> Result<u32> {
        let int = self.int_in(field, self.get(field)?, u32::MAX.into())?;
        Ok(int as u32)
    }

    /// An optional integer in `0..=u16::MAX`.
    pub(crate) fn opt_u16(&self, field: &'static str) -> Result<Option<u16>> {
        self.opt(field)
            .map(|value| Ok(self.int_in(field, value, u16::MAX.into())? as u16))
            .transpose()
    }

    /// An integer in `0..=u64::MAX`.
    pub(crate) fn u64(&self, field: &'static str) -> Result<u64> {
        let int = self.int_in(field, self.get(field)?, u64::MAX.into())?;
        Ok(int as u64)
    }

    /// A 20-byte address.
    pub(crate) fn address(&self, field: &'static str) -> Result<Address> {
        Ok(Address::from_slice(self.bytes_of(
            field,
            self.get(field)?,
            20,
        )?))
    }

    /// An optional [`address`](Self::address).
    pub(crate) fn opt_address(&self, field: &'static str) -> Result<Option<Address>> {
        self.has(field).then(|| self.address(field)).transpose()
    }

    /// A 32-byte hash.
    pub(crate) fn hash(&self, field: &'static str) -> Result<B256> {
        Ok(B256::from_slice(self.bytes_of(
            field,
            self.get(field)?,
            32,
        )?))
    }

    /// An optional [`hash`](Self::hash).
    pub(crate) fn opt_hash(&self, field: &'static str) -> Result<Option<B256>> {
        self.has(field).then(|| self.hash(field)).transpose()
    }

    /// A 64-byte EIP-2098 signature, `r ‖ vs`.
    pub(crate) fn signature(&self, field: &'static str) -> Result<CompactSignature> {
        let bytes = self.bytes_of(field, self.get(field)?, CompactSignature::LEN)?;
        CompactSignature::from_slice(bytes).map_err(|_| self.invalid(field, "wrong length"))
    }

    /// A [`Code`].
    pub(crate) fn code(&self, field: &'static str) -> Result<Code> {
        let bytes = self
            .get(field)?
            .as_bytes()
            .ok_or_else(|| self.invalid(field, "not a byte string"))?;
        Code::from_bytes(bytes).ok_or_else(|| self.invalid(field, "not a code"))
    }

    /// Optional UTF-8 text of at most [`MAX_TEXT_LEN`] bytes.
    pub(crate) fn opt_text(&self, field: &'static str) -> Result<Option<String>> {
        let Some(value) = self.opt(field) else {
            return Ok(None);
        };
        let bytes = value
            .as_bytes()
            .ok_or_else(|| self.invalid(field, "not a byte string"))?;
        if bytes.len() > MAX_TEXT_LEN {
            return Err(self.invalid(field, "too long"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| self.invalid(field, "not UTF-8"))?;
        Ok(Some(text.to_owned()))
    }
}

/// The fields of one message to send. Out-of-range values are caught here, so nothing a peer would
/// refuse ever leaves.
pub(crate) struct Writer {
    message: &'static str,
    dict: BTreeMap<Vec<u8>, Value>,
    error: Option<Error>,
}

impl Writer {
    /// A message of type `message`.
    pub(crate) fn new(message: &'static str) -> Self {
        let mut writer = Self {
            message,
            dict: BTreeMap::new(),
            error: None,
        };
        writer.put("t", Value::bytes(message));
        writer
    }

    fn put(&mut self, field: &'static str, value: Value) -> &mut Self {
        self.dict.insert(field.as_bytes().to_vec(), value);
        self
    }

    fn fail(&mut self, field: &'static str, reason: &'static str) -> &mut Self {
        self.error.get_or_insert(Error::InvalidField {
            message: self.message,
            field,
            reason,
        });
        self
    }

    pub(crate) fn amount(&mut self, field: &'static str, amount: Amount) -> &mut Self {
        if amount > MAX_AMOUNT {
            return self.fail(field, "out of range");
        }
        self.put(field, Value::Int(amount as i128))
    }

    pub(crate) fn opt_amount(&mut self, field: &'static str, amount: Option<Amount>) -> &mut Self {
        match amount {
            Some(amount) => self.amount(field, amount),
            None => self,
        }
    }

    pub(crate) fn uint(&mut self, field: &'static str, value: impl Into<u64>) -> &mut Self {
        self.put(field, Value::Int(value.into().into()))
    }

    pub(crate) fn opt_uint(
        &mut self,
        field: &'static str,
        value: Option<impl Into<u64>>,
    ) -> &mut Self {
        match value {
            Some(value) => self.uint(field, value),
            None => self,
        }
    }

    pub(crate) fn raw(&mut self, field: &'static str, bytes: &[u8]) -> &mut Self {
        self.put(field, Value::bytes(bytes))
    }

    pub(crate) fn opt_raw(&mut self, field: &'static str, bytes: Option<&[u8]>) -> &mut Self {
        match bytes {
            Some(bytes) => self.raw(field, bytes),
            None => self,
        }
    }

    pub(crate) fn opt_text(&mut self, field: &'static str, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) if text.len() > MAX_TEXT_LEN => self.fail(field, "too long"),
            Some(text) => self.raw(field, text.as_bytes()),
            None => self,
        }
    }

    pub(crate) fn finish(&mut self) -> Result<Vec<u8>> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        Ok(Value::Dict(std::mem::take(&mut self.dict)).encode())
    }
}
