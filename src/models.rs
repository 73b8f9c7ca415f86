//! The structs and enums a backend service queries the HAVEN schema with (PostgreSQL).
//!
//! For every table of [`crate::schema`] there are two structs:
//! - a `Queryable` + `Selectable` one named after a row (`User`, `Transaction`, ...), with
//!   every column in table order: load it with `.select(User::as_select())`;
//! - an `Insertable` `New...` one with what an INSERT supplies. Columns the database fills
//!   in (ids, `created_at`, `updated_at`) are absent, and `Option` fields of NOT NULL
//!   columns with a default (statuses, rewards) insert `DEFAULT` when `None`.
//!
//! Statuses and kinds are the PostgreSQL enum types, mapped with `diesel-derive-enum`:
//! each Rust variant is the snake_case label (`PaidOut` is `'paid_out'`). Token amounts
//! are [`BigDecimal`], exact; timestamps are `DateTime<Utc>` (`timestamptz`).
//!
//! ```no_run
//! use diesel::prelude::*;
//! use haven_schema::models::{NewUser, User};
//! use haven_schema::schema::users;
//!
//! # fn demo(conn: &mut PgConnection) -> QueryResult<()> {
//! let user: User = diesel::insert_into(users::table)
//!     .values(NewUser::new("0x52908400098527886E0F7030069857D2E4169EE7"))
//!     .returning(User::as_returning())
//!     .get_result(conn)?;
//! # let _ = user;
//! # Ok(())
//! # }
//! ```

use std::io::Write;

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Jsonb;

use crate::schema::{
    audit_log, aurora_bookings, redemption_requests, staking_records, system_metrics, transactions,
    tribe_events, tribe_rewards, users,
};

// ---------------------------------------------------------------------------------------
// Enum types
// ---------------------------------------------------------------------------------------

/// Whether an account may transact (`user_status`).
#[derive(diesel_derive_enum::DbEnum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[ExistingTypePath = "crate::schema::sql_types::UserStatus"]
#[DbValueStyle = "snake_case"]
pub enum UserStatus {
    /// In good standing (the default).
    Active,
    /// Blocked for now, for example during an investigation.
    Suspended,
    /// Closed for good.
    Closed,
}

/// Where the know-your-customer check of a user stands (`kyc_status`).
#[derive(diesel_derive_enum::DbEnum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[ExistingTypePath = "crate::schema::sql_types::KycStatus"]
#[DbValueStyle = "snake_case"]
pub enum KycStatus {
    /// Nothing submitted yet (the default).
    NotStarted,
    /// Submitted, under review.
    Pending,
    /// Verified.
    Verified,
    /// Refused.
    Rejected,
}

/// What a token transaction does (`transaction_kind`).
#[derive(diesel_derive_enum::DbEnum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[ExistingTypePath = "crate::schema::sql_types::TransactionKind"]
#[DbValueStyle = "snake_case"]
pub enum TransactionKind {
    /// New tokens for `to_user_id`; there is no sender.
    Mint,
    /// Tokens of `from_user_id` destroyed; there is no recipient.
    Burn,
    /// Tokens moved from one user to another.
    Transfer,
}

/// Where a token transaction stands on chain (`transaction_status`).
#[derive(diesel_derive_enum::DbEnum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[ExistingTypePath = "crate::schema::sql_types::TransactionStatus"]
#[DbValueStyle = "snake_case"]
pub enum TransactionStatus {
    /// Recorded, not confirmed yet (the default).
    Pending,
    /// Confirmed on chain; `confirmed_at` is set.
    Confirmed,
    /// Failed or dropped.
    Failed,
}

/// The steps of a fiat redemption (`redemption_status`):
/// requested → approved → paid out, or rejected / cancelled.
#[derive(diesel_derive_enum::DbEnum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[ExistingTypePath = "crate::schema::sql_types::RedemptionStatus"]
#[DbValueStyle = "snake_case"]
pub enum RedemptionStatus {
    /// Asked for by the user (the default).
    Requested,
    /// Approved; `approved_at` is set.
    Approved,
    /// Fiat paid; `paid_out_at` and `payout_reference` are set.
    PaidOut,
    /// Refused; `rejected_at` is set.
    Rejected,
    /// Withdrawn by the user; `cancelled_at` is set.
    Cancelled,
}

/// Where an Aurora booking stands (`aurora_booking_status`).
#[derive(diesel_derive_enum::DbEnum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[ExistingTypePath = "crate::schema::sql_types::AuroraBookingStatus"]
#[DbValueStyle = "snake_case"]
pub enum AuroraBookingStatus {
    /// Received from Aurora, not confirmed yet (the default).
    Pending,
    /// Confirmed by the property.
    Confirmed,
    /// The stay took place.
    Completed,
    /// Cancelled.
    Cancelled,
}

/// The kind of community contribution a Tribe reward pays for (`tribe_contribution_kind`).
#[derive(diesel_derive_enum::DbEnum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[ExistingTypePath = "crate::schema::sql_types::TribeContributionKind"]
#[DbValueStyle = "snake_case"]
pub enum TribeContributionKind {
    /// Published content.
    Content,
    /// Brought in a new member.
    Referral,
    /// Hosted an event.
    EventHosting,
    /// Moderated the community.
    Moderation,
    /// Gave product feedback.
    Feedback,
    /// Anything else; see the reward's description.
    Other,
}

/// Where a stake stands (`staking_status`).
#[derive(diesel_derive_enum::DbEnum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[ExistingTypePath = "crate::schema::sql_types::StakingStatus"]
#[DbValueStyle = "snake_case"]
pub enum StakingStatus {
    /// Locked, accruing rewards (the default).
    Active,
    /// The lock ended; the tokens can be withdrawn.
    Matured,
    /// Withdrawn; `withdrawn_at` is set.
    Withdrawn,
}

// ---------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------

/// A `jsonb` value (the audit log's `old_values` and `new_values`).
///
/// Diesel maps `jsonb` to `serde_json::Value` only with its `serde_json` feature; this
/// newtype does the same without it. The audit-log columns must hold JSON objects.
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Jsonb)]
pub struct JsonValue(pub serde_json::Value);

impl From<serde_json::Value> for JsonValue {
    fn from(value: serde_json::Value) -> Self {
        JsonValue(value)
    }
}

impl From<JsonValue> for serde_json::Value {
    fn from(value: JsonValue) -> Self {
        value.0
    }
}

/// The version byte that starts `jsonb` in PostgreSQL's binary format.
const JSONB_FORMAT_VERSION: u8 = 1;

impl FromSql<Jsonb, Pg> for JsonValue {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        match value.as_bytes().split_first() {
            Some((&JSONB_FORMAT_VERSION, text)) => Ok(JsonValue(serde_json::from_slice(text)?)),
            Some((version, _)) => Err(format!("unsupported jsonb format version {version}").into()),
            None => Err("empty jsonb value from the server".into()),
        }
    }
}

impl ToSql<Jsonb, Pg> for JsonValue {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&[JSONB_FORMAT_VERSION])?;
        serde_json::to_writer(out, &self.0)?;
        Ok(IsNull::No)
    }
}

// ---------------------------------------------------------------------------------------
// Migration 1: users, transactions, redemption_requests, system_metrics
// ---------------------------------------------------------------------------------------

/// A row of `users`: a HAVEN account, identified by its wallet.
#[derive(Queryable, Selectable, Identifiable, Debug, Clone, PartialEq)]
#[diesel(table_name = users, check_for_backend(Pg))]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Ethereum address, `0x` and 40 hex digits; unique whatever its letter case.
    pub wallet_address: String,
    /// Contact address, unique ignoring case.
    pub email: Option<String>,
    /// Name shown in the apps.
    pub display_name: Option<String>,
    /// Where the KYC check stands.
    pub kyc_status: KycStatus,
    /// Whether the account may transact.
    pub status: UserStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change (kept by a trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `users`.
#[derive(Insertable, Debug, Clone, PartialEq)]
#[diesel(table_name = users, check_for_backend(Pg))]
pub struct NewUser<'a> {
    /// Ethereum address, `0x` and 40 hex digits.
    pub wallet_address: &'a str,
    /// Contact address.
    pub email: Option<&'a str>,
    /// Name shown in the apps.
    pub display_name: Option<&'a str>,
    /// `None`: [`KycStatus::NotStarted`].
    pub kyc_status: Option<KycStatus>,
    /// `None`: [`UserStatus::Active`].
    pub status: Option<UserStatus>,
}

impl<'a> NewUser<'a> {
    /// A user with only a wallet address; everything else NULL or the default.
    pub fn new(wallet_address: &'a str) -> Self {
        NewUser {
            wallet_address,
            email: None,
            display_name: None,
            kyc_status: None,
            status: None,
        }
    }
}

/// A row of `transactions`: a token mint, burn or transfer.
#[derive(Queryable, Selectable, Identifiable, Debug, Clone, PartialEq)]
#[diesel(table_name = transactions, check_for_backend(Pg))]
pub struct Transaction {
    /// Primary key.
    pub id: i64,
    /// Mint, burn or transfer.
    pub kind: TransactionKind,
    /// Where it stands on chain.
    pub status: TransactionStatus,
    /// Tokens moved, exact to 18 decimals; positive.
    pub amount: BigDecimal,
    /// Sender; `None` for a mint.
    pub from_user_id: Option<i64>,
    /// Recipient; `None` for a burn.
    pub to_user_id: Option<i64>,
    /// On-chain hash, `0x` and 64 hex digits; unique.
    pub tx_hash: Option<String>,
    /// Block of the on-chain transaction.
    pub block_number: Option<i64>,
    /// Free-form note.
    pub memo: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When the chain confirmed it.
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// A new row of `transactions`.
#[derive(Insertable, Debug, Clone, PartialEq)]
#[diesel(table_name = transactions, check_for_backend(Pg))]
pub struct NewTransaction<'a> {
    /// Mint, burn or transfer.
    pub kind: TransactionKind,
    /// `None`: [`TransactionStatus::Pending`].
    pub status: Option<TransactionStatus>,
    /// Tokens moved; must be positive.
    pub amount: BigDecimal,
    /// Sender; `None` for a mint.
    pub from_user_id: Option<i64>,
    /// Recipient; `None` for a burn.
    pub to_user_id: Option<i64>,
    /// On-chain hash.
    pub tx_hash: Option<&'a str>,
    /// Block of the on-chain transaction.
    pub block_number: Option<i64>,
    /// Free-form note.
    pub memo: Option<&'a str>,
    /// When the chain confirmed it; required with [`TransactionStatus::Confirmed`].
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// A row of `redemption_requests`: tokens redeemed for a fiat payout.
#[derive(Queryable, Selectable, Identifiable, Debug, Clone, PartialEq)]
#[diesel(table_name = redemption_requests, check_for_backend(Pg))]
pub struct RedemptionRequest {
    /// Primary key.
    pub id: i64,
    /// Who redeems.
    pub user_id: i64,
    /// Tokens redeemed, exact to 18 decimals; positive.
    pub token_amount: BigDecimal,
    /// ISO 4217 code of the payout, such as `EUR`.
    pub fiat_currency: String,
    /// Payout in `fiat_currency`, to 4 decimals; positive.
    pub fiat_amount: BigDecimal,
    /// The step reached.
    pub status: RedemptionStatus,
    /// The burn that destroyed the redeemed tokens.
    pub burn_transaction_id: Option<i64>,
    /// Reference of the fiat payment.
    pub payout_reference: Option<String>,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// When it was approved.
    pub approved_at: Option<DateTime<Utc>>,
    /// When the fiat was paid.
    pub paid_out_at: Option<DateTime<Utc>>,
    /// When it was rejected.
    pub rejected_at: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Last change (kept by a trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `redemption_requests`, as the user files it: its status is
/// [`RedemptionStatus::Requested`]; later steps are UPDATEs that also set their timestamp.
#[derive(Insertable, Debug, Clone, PartialEq)]
#[diesel(table_name = redemption_requests, check_for_backend(Pg))]
pub struct NewRedemptionRequest<'a> {
    /// Who redeems.
    pub user_id: i64,
    /// Tokens redeemed; must be positive.
    pub token_amount: BigDecimal,
    /// ISO 4217 code of the payout.
    pub fiat_currency: &'a str,
    /// Payout in `fiat_currency`; must be positive.
    pub fiat_amount: BigDecimal,
    /// The burn that destroyed the redeemed tokens.
    pub burn_transaction_id: Option<i64>,
}

/// A row of `system_metrics`: a sample of a system-wide metric.
#[derive(Queryable, Selectable, Identifiable, Debug, Clone, PartialEq)]
#[diesel(table_name = system_metrics, check_for_backend(Pg))]
pub struct SystemMetric {
    /// Primary key.
    pub id: i64,
    /// The metric, such as `total_supply`.
    pub metric_name: String,
    /// The sampled value, exact.
    pub value: BigDecimal,
    /// When it was sampled.
    pub recorded_at: DateTime<Utc>,
}

/// A new row of `system_metrics`.
#[derive(Insertable, Debug, Clone, PartialEq)]
#[diesel(table_name = system_metrics, check_for_backend(Pg))]
pub struct NewSystemMetric<'a> {
    /// The metric; not empty.
    pub metric_name: &'a str,
    /// The sampled value.
    pub value: BigDecimal,
    /// `None`: now.
    pub recorded_at: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------------------------------
// Migration 2: aurora_bookings
// ---------------------------------------------------------------------------------------

/// A row of `aurora_bookings`: a stay booked through Aurora PMS, and its reward.
#[derive(Queryable, Selectable, Identifiable, Debug, Clone, PartialEq)]
#[diesel(table_name = aurora_bookings, check_for_backend(Pg))]
pub struct AuroraBooking {
    /// Primary key.
    pub id: i64,
    /// The guest.
    pub user_id: i64,
    /// Aurora's identifier of the booking; unique.
    pub booking_reference: String,
    /// Aurora's identifier of the property.
    pub property_id: String,
    /// The property's name.
    pub property_name: Option<String>,
    /// Arrival date.
    pub check_in: NaiveDate,
    /// Departure date, after `check_in`.
    pub check_out: NaiveDate,
    /// What the guest paid, in `currency`.
    pub booking_amount: BigDecimal,
    /// ISO 4217 code of `booking_amount`.
    pub currency: String,
    /// Tokens earned for the stay.
    pub reward_earned: BigDecimal,
    /// The mint that paid the reward.
    pub reward_transaction_id: Option<i64>,
    /// Where the booking stands.
    pub status: AuroraBookingStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change (kept by a trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `aurora_bookings`.
#[derive(Insertable, Debug, Clone, PartialEq)]
#[diesel(table_name = aurora_bookings, check_for_backend(Pg))]
pub struct NewAuroraBooking<'a> {
    /// The guest.
    pub user_id: i64,
    /// Aurora's identifier of the booking.
    pub booking_reference: &'a str,
    /// Aurora's identifier of the property.
    pub property_id: &'a str,
    /// The property's name.
    pub property_name: Option<&'a str>,
    /// Arrival date.
    pub check_in: NaiveDate,
    /// Departure date; must be after `check_in`.
    pub check_out: NaiveDate,
    /// What the guest paid; not negative.
    pub booking_amount: BigDecimal,
    /// ISO 4217 code of `booking_amount`.
    pub currency: &'a str,
    /// `None`: zero.
    pub reward_earned: Option<BigDecimal>,
    /// The mint that paid the reward.
    pub reward_transaction_id: Option<i64>,
    /// `None`: [`AuroraBookingStatus::Pending`].
    pub status: Option<AuroraBookingStatus>,
}

// ---------------------------------------------------------------------------------------
// Migration 3: tribe_events, tribe_rewards, staking_records
// ---------------------------------------------------------------------------------------

/// A row of `tribe_events`: a user's attendance at a Tribe event.
#[derive(Queryable, Selectable, Identifiable, Debug, Clone, PartialEq)]
#[diesel(table_name = tribe_events, check_for_backend(Pg))]
pub struct TribeEvent {
    /// Primary key.
    pub id: i64,
    /// Who attended.
    pub user_id: i64,
    /// Tribe's identifier of the event; one row per user and event.
    pub event_id: String,
    /// The event's name.
    pub event_name: String,
    /// When the attendance was recorded.
    pub attended_at: DateTime<Utc>,
    /// Tokens earned for attending.
    pub reward_amount: BigDecimal,
    /// The mint that paid the reward.
    pub reward_transaction_id: Option<i64>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A new row of `tribe_events`.
#[derive(Insertable, Debug, Clone, PartialEq)]
#[diesel(table_name = tribe_events, check_for_backend(Pg))]
pub struct NewTribeEvent<'a> {
    /// Who attended.
    pub user_id: i64,
    /// Tribe's identifier of the event.
    pub event_id: &'a str,
    /// The event's name.
    pub event_name: &'a str,
    /// When the attendance was recorded.
    pub attended_at: DateTime<Utc>,
    /// `None`: zero.
    pub reward_amount: Option<BigDecimal>,
    /// The mint that paid the reward.
    pub reward_transaction_id: Option<i64>,
}

/// A row of `tribe_rewards`: tokens awarded for a community contribution.
#[derive(Queryable, Selectable, Identifiable, Debug, Clone, PartialEq)]
#[diesel(table_name = tribe_rewards, check_for_backend(Pg))]
pub struct TribeReward {
    /// Primary key.
    pub id: i64,
    /// Who contributed.
    pub user_id: i64,
    /// What kind of contribution.
    pub contribution_kind: TribeContributionKind,
    /// Tokens awarded; positive.
    pub amount: BigDecimal,
    /// What the contribution was.
    pub description: Option<String>,
    /// The event it belongs to, if any.
    pub tribe_event_id: Option<i64>,
    /// The mint that paid the reward.
    pub reward_transaction_id: Option<i64>,
    /// When it was awarded.
    pub awarded_at: DateTime<Utc>,
}

/// A new row of `tribe_rewards`.
#[derive(Insertable, Debug, Clone, PartialEq)]
#[diesel(table_name = tribe_rewards, check_for_backend(Pg))]
pub struct NewTribeReward<'a> {
    /// Who contributed.
    pub user_id: i64,
    /// What kind of contribution.
    pub contribution_kind: TribeContributionKind,
    /// Tokens awarded; must be positive.
    pub amount: BigDecimal,
    /// What the contribution was.
    pub description: Option<&'a str>,
    /// The event it belongs to, if any.
    pub tribe_event_id: Option<i64>,
    /// The mint that paid the reward.
    pub reward_transaction_id: Option<i64>,
    /// `None`: now.
    pub awarded_at: Option<DateTime<Utc>>,
}

/// A row of `staking_records`: tokens locked for a period, and their rewards.
#[derive(Queryable, Selectable, Identifiable, Debug, Clone, PartialEq)]
#[diesel(table_name = staking_records, check_for_backend(Pg))]
pub struct StakingRecord {
    /// Primary key.
    pub id: i64,
    /// Who staked.
    pub user_id: i64,
    /// Tokens locked; positive.
    pub amount: BigDecimal,
    /// Yearly reward rate as a fraction: 0.05 is 5 % a year.
    pub reward_rate: BigDecimal,
    /// Rewards accrued so far.
    pub accrued_rewards: BigDecimal,
    /// Start of the lock.
    pub lock_start: DateTime<Utc>,
    /// End of the lock, after `lock_start`.
    pub lock_end: DateTime<Utc>,
    /// Where the stake stands.
    pub status: StakingStatus,
    /// When it was withdrawn; set exactly when withdrawn.
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change (kept by a trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `staking_records`.
#[derive(Insertable, Debug, Clone, PartialEq)]
#[diesel(table_name = staking_records, check_for_backend(Pg))]
pub struct NewStakingRecord {
    /// Who staked.
    pub user_id: i64,
    /// Tokens locked; must be positive.
    pub amount: BigDecimal,
    /// Yearly reward rate as a fraction; not negative.
    pub reward_rate: BigDecimal,
    /// `None`: zero.
    pub accrued_rewards: Option<BigDecimal>,
    /// `None`: now.
    pub lock_start: Option<DateTime<Utc>>,
    /// End of the lock; must be after `lock_start`.
    pub lock_end: DateTime<Utc>,
    /// `None`: [`StakingStatus::Active`].
    pub status: Option<StakingStatus>,
    /// Required exactly with [`StakingStatus::Withdrawn`].
    pub withdrawn_at: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------------------------------
// Migration 4: audit_log
// ---------------------------------------------------------------------------------------

/// A row of `audit_log`: who did what, to which entity, when and from where.
///
/// The table is append-only: there is deliberately no `AsChangeset`, and the database
/// refuses UPDATE, DELETE and TRUNCATE anyway.
#[derive(Queryable, Selectable, Identifiable, Debug, Clone, PartialEq)]
#[diesel(table_name = audit_log, check_for_backend(Pg))]
pub struct AuditLogEntry {
    /// Primary key.
    pub id: i64,
    /// The acting user, if a user acted (not a foreign key: the trail outlives users).
    pub actor_user_id: Option<i64>,
    /// Who acted, as text: `user:42`, `admin:alice`, `system:payout-worker`.
    pub actor: String,
    /// What was done, such as `redemption.approve`.
    pub action: String,
    /// The kind of entity acted on, such as `redemption_request`.
    pub entity_type: String,
    /// The identifier of the entity acted on.
    pub entity_id: Option<String>,
    /// The changed fields before the action (a JSON object).
    pub old_values: Option<JsonValue>,
    /// The changed fields after the action (a JSON object).
    pub new_values: Option<JsonValue>,
    /// The client address the action came from.
    pub ip_address: Option<String>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

/// A new row of `audit_log`.
#[derive(Insertable, Debug, Clone, PartialEq)]
#[diesel(table_name = audit_log, check_for_backend(Pg))]
pub struct NewAuditLogEntry<'a> {
    /// The acting user, if a user acted.
    pub actor_user_id: Option<i64>,
    /// Who acted, as text; not empty.
    pub actor: &'a str,
    /// What was done; not empty.
    pub action: &'a str,
    /// The kind of entity acted on; not empty.
    pub entity_type: &'a str,
    /// The identifier of the entity acted on.
    pub entity_id: Option<&'a str>,
    /// The changed fields before the action; must be a JSON object.
    pub old_values: Option<JsonValue>,
    /// The changed fields after the action; must be a JSON object.
    pub new_values: Option<JsonValue>,
    /// The client address the action came from.
    pub ip_address: Option<&'a str>,
}
