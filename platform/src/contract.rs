//! Value types of the public contract that several services validate the same way: item ids,
//! quantities, order statuses. A value of one of these types is known to be well-formed.

use std::{borrow::Cow, fmt};

use serde::{Deserialize, Deserializer, Serialize, de};

/// The largest quantity one order line (or reservation line) may ask for.
pub const MAX_QUANTITY: u64 = 1_000_000;

/// An item id: 1–64 characters of `[A-Za-z0-9._-]` (SKU-like).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ItemId(String);

impl ItemId {
    /// Validates an item id.
    pub fn parse(raw: &str) -> Result<Self, String> {
        check_token(raw, 64, "item id")?;
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl schemars::JsonSchema for ItemId {
    fn schema_name() -> Cow<'static, str> {
        "ItemId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An item id (SKU-like): 1 to 64 letters, digits, '.', '_' or '-'.",
            "type": "string",
            "pattern": "^[A-Za-z0-9._-]{1,64}$",
            "minLength": 1,
            "maxLength": 64,
            "examples": ["widget"],
        })
    }
}

/// An order's status.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Stock reserved and the order accepted.
    Confirmed,
    /// Refused for short stock.
    Rejected,
    /// Cancelled after it was confirmed; its stock went back.
    Cancelled,
}

impl OrderStatus {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    /// From the stored text.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "confirmed" => Self::Confirmed,
            "rejected" => Self::Rejected,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

impl<'de> Deserialize<'de> for ItemId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(de::Error::custom)
    }
}

/// Checks an id: not empty, at most `max` characters of `[A-Za-z0-9._:-]` (item ids: no `:`),
/// with an error that names the offending character.
pub fn check_token(raw: &str, max: usize, what: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if raw.len() > max {
        return Err(format!(
            "{what} is {} characters long; at most {max} are allowed",
            raw.len()
        ));
    }
    if let Some(bad) = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')))
    {
        return Err(format!(
            "{what} {raw:?} contains {bad:?}; only letters, digits, '.', '_' and '-' are allowed"
        ));
    }
    if what == "item id" && raw.contains(':') {
        return Err(format!(
            "{what} {raw:?} contains ':'; only letters, digits, '.', '_' and '-' are allowed"
        ));
    }
    Ok(())
}

/// Where a number is read from: a JSON body takes only JSON numbers (`"3"` is refused), a query
/// string has nothing but text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A JSON body: only JSON numbers.
    Json,
    /// A query string: text holding a number.
    Query,
}

/// A whole number in `min..=max`, with an error that says exactly what is wrong: negative,
/// fractional, too large, not a number.
pub fn bounded_integer<'de, D: Deserializer<'de>>(
    d: D,
    field: &'static str,
    min: u64,
    max: u64,
    source: Source,
) -> Result<u64, D::Error> {
    struct Visitor {
        field: &'static str,
        min: u64,
        max: u64,
        source: Source,
    }
    impl Visitor {
        fn check<E: de::Error>(&self, v: u64) -> Result<u64, E> {
            if v < self.min || v > self.max {
                Err(E::custom(format!(
                    "{} must be a whole number from {} to {}, got {v}",
                    self.field, self.min, self.max
                )))
            } else {
                Ok(v)
            }
        }
        fn refuse<E: de::Error>(&self, got: impl fmt::Display) -> E {
            E::custom(format!(
                "{} must be a whole number from {} to {}, got {got}",
                self.field, self.min, self.max
            ))
        }
    }
    impl de::Visitor<'_> for Visitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} as a whole number", self.field)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            self.check(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_or_else(|_| Err(self.refuse(v)), |v| self.check(v))
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<u64, E> {
            Err(self.refuse(v))
        }
        fn visit_i128<E: de::Error>(self, v: i128) -> Result<u64, E> {
            Err(self.refuse(v))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
            Err(self.refuse(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            if self.source == Source::Json {
                return Err(self.refuse(format!("the string {v:?}")));
            }
            match v.trim().parse::<u64>() {
                Ok(n) => self.check(n),
                Err(_) => Err(self.refuse(format!("{v:?}"))),
            }
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<u64, E> {
            Err(self.refuse(v))
        }
        fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
            Err(self.refuse("null"))
        }
    }
    d.deserialize_any(Visitor {
        field,
        min,
        max,
        source,
    })
}

/// How many units one reservation line (or availability check) asks for: 1 to
/// [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Quantity(u64);

impl Quantity {
    /// A quantity of `n` units, if `n` is within bounds.
    pub fn new(n: u64) -> Option<Self> {
        (1..=MAX_QUANTITY).contains(&n).then_some(Self(n))
    }

    /// The number of units.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bounded_integer(d, "quantity", 1, MAX_QUANTITY, Source::Json).map(Self)
    }
}

/// A quantity given in a query string (`?quantity=3`), with the bounds of [`Quantity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryQuantity(pub Quantity);

impl<'de> Deserialize<'de> for QueryQuantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bounded_integer(d, "quantity", 1, MAX_QUANTITY, Source::Query).map(|n| Self(Quantity(n)))
    }
}

/// How many entries one page of a listing holds: 1 to 200 (default 50).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(usize);

impl PageLimit {
    /// The number of entries.
    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(50)
    }
}

impl<'de> Deserialize<'de> for PageLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bounded_integer(d, "limit", 1, 200, Source::Query).map(|n| Self(n as usize))
    }
}

/// The query of every paginated listing: `?limit=&cursor=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Entries per page (1–200, default 50).
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: PageLimit,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The cursor of a listing in item id order: the last item id of the previous page.
    pub fn item_cursor(&self) -> Result<Option<ItemId>, String> {
        self.cursor
            .as_deref()
            .map(|c| ItemId::parse(c).map_err(|e| format!("cursor: {e}")))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn quantity(json: &str) -> Result<Quantity, String> {
        serde_json::from_str::<Quantity>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn quantities_outside_one_to_the_maximum_are_refused_with_a_reason() {
        assert_eq!(quantity("3").unwrap().get(), 3);
        for bad in [
            "0",
            "-1",
            "1.5",
            "1000001",
            "1e30",
            "\"x\"",
            "true",
            "null",
            "99999999999999999999999",
        ] {
            let err = quantity(bad).unwrap_err();
            assert!(
                err.contains("quantity must be a whole number"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn item_ids_are_sku_like() {
        assert!(ItemId::parse("widget-42_A.b").is_ok());
        assert!(ItemId::parse("").is_err());
        assert!(ItemId::parse(&"x".repeat(65)).is_err());
        for bad in ["a b", "a/b", "ä", "a:b", "{a}", "a*"] {
            assert!(ItemId::parse(bad).is_err(), "{bad}");
        }
    }
}
