//! Column encodings (see the migration's header) and the decoding of rows both stores share.

use piecepay_protocol::{
    CompactSignature, Receipt,
    alloy_primitives::{Address, B256, aliases::U96},
    column, domain,
};
use sqlx::{Row, sqlite::SqliteRow};

use super::corrupt;
use crate::{Amount, Channel, CreditWindow, Error, MAX_AMOUNT, Result, SignedReceipt, Terms};

pub(super) use piecepay_protocol::column::amount;

/// An amount column ([`piecepay_protocol::column`]: 39 digits).
pub(super) fn parse_amount(text: &str, column: &str) -> Result<Amount> {
    column::parse_amount(text).ok_or_else(|| corrupt(&format!("{column} is not a 39-digit amount")))
}

/// A receipt-range amount (the escrow's uint96) from its column.
pub(super) fn parse_channel_amount(text: &str, column: &str) -> Result<Amount> {
    let value = parse_amount(text, column)?;
    if value > MAX_AMOUNT {
        return Err(corrupt(&format!("{column} exceeds the uint96 range")));
    }
    Ok(value)
}

/// A unix time as an SQLite integer; beyond `i64` is refused ([`piecepay_protocol::column`]'s rule; it is
/// beyond any escrow deadline too).
pub(super) fn time(value: u64) -> Result<i64> {
    column::time(value).ok_or(Error::DeadlineOutOfRange { deadline: value })
}

pub(super) fn parse_time(value: i64, column: &str) -> Result<u64> {
    column::parse_time(value).ok_or_else(|| corrupt(&format!("{column} is negative")))
}

pub(super) fn address(bytes: &[u8], column: &str) -> Result<Address> {
    Address::try_from(bytes).map_err(|_| corrupt(&format!("{column} is not 20 bytes")))
}

pub(super) fn signature(bytes: &[u8]) -> Result<CompactSignature> {
    CompactSignature::from_slice(bytes).map_err(|_| corrupt("signature is not 64 bytes"))
}

pub(super) fn salt(value: i64) -> Result<u32> {
    u32::try_from(value).map_err(|_| corrupt("salt is not a uint32"))
}

pub(super) fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column)
        .map_err(|e| corrupt(&format!("{column}: {e}")))
}

pub(super) fn get_amount(row: &SqliteRow, column: &str) -> Result<Amount> {
    parse_amount(&get::<String>(row, column)?, column)
}

pub(super) fn get_opt_amount(row: &SqliteRow, column: &str) -> Result<Option<Amount>> {
    get::<Option<String>>(row, column)?
        .map(|text| parse_amount(&text, column))
        .transpose()
}

pub(super) fn get_time(row: &SqliteRow, column: &str) -> Result<u64> {
    parse_time(get(row, column)?, column)
}

pub(super) fn get_opt_time(row: &SqliteRow, column: &str) -> Result<Option<u64>> {
    get::<Option<i64>>(row, column)?
        .map(|value| parse_time(value, column))
        .transpose()
}

pub(super) fn required<T>(value: Option<T>, what: &str) -> Result<T> {
    value.ok_or_else(|| corrupt(&format!("{what} missing")))
}

/// A signed receipt of `channel` for `cumulative`, as the escrow would read it.
pub(super) fn signed_receipt(
    channel: &Channel,
    cumulative: Amount,
    signature: CompactSignature,
) -> Result<SignedReceipt> {
    Ok(SignedReceipt {
        message: Receipt {
            payee: channel.payee(),
            salt: channel.salt(),
            cumulative: U96::try_from(cumulative)
                .map_err(|_| corrupt("cumulative exceeds the uint96 range"))?,
        },
        signature,
    })
}

/// Where a channel's rows live: its escrow's domain and its id.
#[derive(Clone, Copy, Debug)]
pub(super) struct Key {
    chain_id: i64,
    escrow: Address,
    id: B256,
}

impl Key {
    /// The key of `channel`, whose domain must be a piecepay escrow's (so the chain id and escrow
    /// address rebuild it exactly).
    pub(super) fn of(channel: &Channel) -> Result<Self> {
        let d = channel.domain();
        let (Some(chain_id), Some(escrow)) = (d.chain_id, d.verifying_contract) else {
            return Err(Error::InvalidChannel(
                "the domain lacks a chain id or an escrow address",
            ));
        };
        let chain_id = u64::try_from(chain_id)
            .ok()
            .filter(|id| i64::try_from(*id).is_ok())
            .ok_or(Error::InvalidChannel("chain id above 2^63 - 1"))?;
        if *d != domain(chain_id, escrow) {
            return Err(Error::InvalidChannel("not a piecepay escrow domain"));
        }
        Ok(Self {
            chain_id: chain_id.cast_signed(),
            escrow,
            id: channel.id(),
        })
    }

    /// Binds the key as the first three parameters (`chain_id`, `escrow`, `channel_id`).
    pub(super) fn bind<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
        query
            .bind(self.chain_id)
            .bind(self.escrow.as_slice())
            .bind(self.id.as_slice())
    }
}

/// The channel of a stored row, rebuilt from its domain columns and parties and checked against its id.
pub(super) fn channel_of(row: &SqliteRow) -> Result<Channel> {
    let chain_id = parse_time(get(row, "chain_id")?, "chain_id")?;
    let escrow = address(&get::<Vec<u8>>(row, "escrow")?, "escrow")?;
    let payer = address(&get::<Vec<u8>>(row, "payer")?, "payer")?;
    let payee = address(&get::<Vec<u8>>(row, "payee")?, "payee")?;
    let channel = Channel::new(
        domain(chain_id, escrow),
        payer,
        payee,
        salt(get(row, "salt")?)?,
    )
    .map_err(|e| corrupt(&format!("channel: {e}")))?;
    if channel.id().as_slice() != get::<Vec<u8>>(row, "channel_id")?.as_slice() {
        return Err(corrupt("channel_id does not match payer, payee and salt"));
    }
    Ok(channel)
}

pub(super) fn terms_of(row: &SqliteRow) -> Result<Terms> {
    let price = get_amount(row, "price")?;
    let credit = get_amount(row, "credit")?;
    let credit = match get::<String>(row, "credit_kind")?.as_str() {
        "pieces" => CreditWindow::Pieces(
            u32::try_from(credit).map_err(|_| corrupt("credit pieces exceed u32"))?,
        ),
        "amount" => CreditWindow::Amount(credit),
        _ => return Err(corrupt("unknown credit_kind")),
    };
    Terms::new(price, credit).map_err(|e| corrupt(&format!("terms: {e}")))
}

/// `(credit_kind, credit)` columns of `terms`.
pub(super) fn credit_columns(terms: &Terms) -> (&'static str, String) {
    match terms.credit() {
        CreditWindow::Pieces(pieces) => ("pieces", amount(Amount::from(pieces))),
        CreditWindow::Amount(value) => ("amount", amount(value)),
    }
}
