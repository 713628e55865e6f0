//! Exact fixed-point money: no floats anywhere in the market.
//!
//! The textbook exchange keeps balances in `double`, so 0.1 + 0.2 drifts and
//! a thousand round trips lose or create cents. Here every quantity is an
//! integer: [`Money`] counts hundredths (balances, cash, stock, holdings and
//! trade amounts) and [`Price`] counts ten-thousandths. Arithmetic is
//! checked: overflow is an error, never a wrap.
#![forbid(unsafe_code)]

use std::fmt;

/// Money is hundredths and a price ten-thousandths, so their product is in
/// millionths; this many millionths make one hundredth.
const PRODUCT_TO_MONEY: i128 = 10_000;

/// Why a decimal string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    /// Not of the form `123` or `123.45`: a sign, exponent, `NaN` or letter.
    Malformed,
    /// More fractional digits than the quantity keeps.
    TooPrecise { max_digits: u32 },
    /// Larger than the market can represent.
    TooLarge,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecimalError::Malformed => f.write_str("not a plain decimal like 12 or 12.50"),
            DecimalError::TooPrecise { max_digits } => {
                write!(f, "at most {max_digits} digits after the point")
            }
            DecimalError::TooLarge => f.write_str("too large"),
        }
    }
}

impl std::error::Error for DecimalError {}

/// Parses an unsigned plain decimal into an integer count of `10^-digits`.
fn parse_scaled(text: &str, digits: u32) -> Result<i64, DecimalError> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty()
        || !all_digits(whole)
        || !all_digits(fraction)
        || (text.contains('.') && fraction.is_empty())
    {
        return Err(DecimalError::Malformed);
    }
    if fraction.len() > digits as usize {
        return Err(DecimalError::TooPrecise { max_digits: digits });
    }
    let scale = 10_i64.pow(digits);
    let mut value: i64 = 0;
    for b in whole.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or(DecimalError::TooLarge)?;
    }
    value = value.checked_mul(scale).ok_or(DecimalError::TooLarge)?;
    let mut fraction_value: i64 = 0;
    for b in fraction.bytes() {
        fraction_value = fraction_value * 10 + i64::from(b - b'0');
    }
    fraction_value *= 10_i64.pow(digits - fraction.len() as u32);
    value
        .checked_add(fraction_value)
        .ok_or(DecimalError::TooLarge)
}

/// Writes `value / 10^digits` with exactly `digits` fractional digits, in
/// one `write_str` of digits made on the stack: every reply prints several
/// amounts, and `write!` with `u128` arithmetic cost more than the trade.
fn write_scaled(f: &mut fmt::Formatter<'_>, value: impl Into<i128>, digits: u32) -> fmt::Result {
    let value: i128 = value.into();
    // A sign, 39 digits of u128::MAX and the point.
    let mut text = [0_u8; 41];
    let mut start = text.len();
    let mut put = |byte: u8| {
        start -= 1;
        text[start] = byte;
    };
    let mut magnitude = value.unsigned_abs();
    for place in 0.. {
        if place == digits {
            put(b'.');
        }
        // u64 division where the value fits, which is every amount but a
        // wide audit sum.
        let digit = match u64::try_from(magnitude) {
            Ok(small) => {
                magnitude = u128::from(small / 10);
                (small % 10) as u8
            }
            Err(_) => {
                let digit = (magnitude % 10) as u8;
                magnitude /= 10;
                digit
            }
        };
        put(b'0' + digit);
        if magnitude == 0 && place >= digits {
            break;
        }
    }
    if value < 0 {
        put(b'-');
    }
    // Only ASCII digits, a point and a sign were written.
    f.write_str(std::str::from_utf8(&text[start..]).map_err(|_| fmt::Error)?)
}

/// An amount of money or currency, in hundredths.
///
/// Balances, the exchange's cash, stock, holdings and trade amounts are all
/// `Money`: each has two decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// Builds from a count of hundredths.
    pub const fn from_hundredths(hundredths: i64) -> Money {
        Money(hundredths)
    }

    /// The count of hundredths.
    pub const fn hundredths(self) -> i64 {
        self.0
    }

    /// Parses a non-negative decimal with at most two fractional digits.
    pub fn parse(text: &str) -> Result<Money, DecimalError> {
        parse_scaled(text, 2).map(Money)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// `self` times a whole count, for totals such as starting balances.
    pub fn checked_mul_count(self, count: i64) -> Option<Money> {
        self.0.checked_mul(count).map(Money)
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.0, 2)
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A sum of [`Money`] values, in hundredths, wide enough that no sum of
/// the values a market can hold overflows: what `audit` adds up, and what
/// a holding is worth, a net worth and a profit, whatever the market holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct WideMoney(i128);

impl WideMoney {
    pub const ZERO: WideMoney = WideMoney(0);

    /// Builds from a count of hundredths.
    pub const fn from_hundredths(hundredths: i128) -> WideMoney {
        WideMoney(hundredths)
    }

    /// The count of hundredths.
    pub const fn hundredths(self) -> i128 {
        self.0
    }

    /// The magnitude (saturating: no sum of stored values comes near
    /// `i128::MIN`, but a rendering must never panic).
    pub fn abs(self) -> WideMoney {
        WideMoney(self.0.saturating_abs())
    }

    /// The sum, saturating: a net worth adds at most 17 values of under
    /// 2^113 each, far from `i128::MAX`.
    pub fn plus(self, other: WideMoney) -> WideMoney {
        WideMoney(self.0.saturating_add(other.0))
    }

    /// The difference, saturating like [`WideMoney::plus`].
    pub fn minus(self, other: WideMoney) -> WideMoney {
        WideMoney(self.0.saturating_sub(other.0))
    }
}

impl From<Money> for WideMoney {
    fn from(money: Money) -> WideMoney {
        WideMoney(i128::from(money.0))
    }
}

impl fmt::Display for WideMoney {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.0, 2)
    }
}

impl serde::Serialize for WideMoney {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A price in local currency per unit, in ten-thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Price(i64);

impl Price {
    /// Builds from a count of ten-thousandths.
    pub const fn from_ten_thousandths(value: i64) -> Price {
        Price(value)
    }

    /// The count of ten-thousandths.
    pub const fn ten_thousandths(self) -> i64 {
        self.0
    }

    /// Parses a non-negative decimal with at most four fractional digits.
    pub fn parse(text: &str) -> Result<Price, DecimalError> {
        parse_scaled(text, 4).map(Price)
    }

    /// What the exchange charges for `amount` units: rounded up to the cent,
    /// so rounding always favours the exchange. `None` on overflow.
    #[inline(always)]
    pub fn cost_of(self, amount: Money) -> Option<Money> {
        // The common case in 64 bits; i128 division is a slow library call.
        if let Some(product) = amount.0.checked_mul(self.0) {
            let whole = product.div_euclid(PRODUCT_TO_MONEY as i64);
            let rest = product.rem_euclid(PRODUCT_TO_MONEY as i64);
            return whole.checked_add(i64::from(rest != 0)).map(Money);
        }
        let product = i128::from(amount.0) * i128::from(self.0);
        let hundredths = (product + PRODUCT_TO_MONEY - 1).div_euclid(PRODUCT_TO_MONEY);
        i64::try_from(hundredths).ok().map(Money)
    }

    /// What the exchange pays for `amount` units: rounded down to the cent.
    /// `None` on overflow.
    #[inline(always)]
    pub fn proceeds_of(self, amount: Money) -> Option<Money> {
        if let Some(product) = amount.0.checked_mul(self.0) {
            return Some(Money(product.div_euclid(PRODUCT_TO_MONEY as i64)));
        }
        let product = i128::from(amount.0) * i128::from(self.0);
        i64::try_from(product.div_euclid(PRODUCT_TO_MONEY))
            .ok()
            .map(Money)
    }
}

impl Price {
    /// What `amount` units would fetch at this price, rounded down to the
    /// cent like [`Price::proceeds_of`], but never refused: the product of
    /// two `i64` fits an `i128`, so a view can value any holding.
    pub fn value_of(self, amount: Money) -> WideMoney {
        let product = i128::from(amount.0) * i128::from(self.0);
        WideMoney(product.div_euclid(PRODUCT_TO_MONEY))
    }
}

impl fmt::Display for Price {
    /// Two to four fractional digits: `13.72`, `24.552`, `0.0001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0 % 100 == 0, self.0 % 10 == 0) {
            (true, _) => write_scaled(f, self.0 / 100, 2),
            (false, true) => write_scaled(f, self.0 / 10, 3),
            (false, false) => write_scaled(f, self.0, 4),
        }
    }
}

impl serde::Serialize for Price {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_decimals() {
        assert_eq!(Money::parse("12"), Ok(Money(1200)));
        assert_eq!(Money::parse("12.5"), Ok(Money(1250)));
        assert_eq!(Money::parse("0.01"), Ok(Money(1)));
        assert_eq!(Money::parse(".5"), Ok(Money(50)));
        assert_eq!(Money::parse("007.10"), Ok(Money(710)));
        assert_eq!(Price::parse("24.552"), Ok(Price(245_520)));
        assert_eq!(Price::parse("13.7"), Ok(Price(137_000)));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "", ".", "1.", "-1", "+1", "1e3", "NaN", "inf", "abc", "1.2.3", " 1", "1,5",
        ] {
            assert_eq!(Money::parse(bad), Err(DecimalError::Malformed), "{bad:?}");
        }
        assert_eq!(
            Money::parse("1.234"),
            Err(DecimalError::TooPrecise { max_digits: 2 })
        );
        assert_eq!(
            Price::parse("1.23456"),
            Err(DecimalError::TooPrecise { max_digits: 4 })
        );
        assert_eq!(
            Money::parse("99999999999999999999"),
            Err(DecimalError::TooLarge)
        );
        assert_eq!(
            Money::parse("92233720368547758.08"),
            Err(DecimalError::TooLarge)
        );
        assert_eq!(Money::parse("92233720368547758.07"), Ok(Money(i64::MAX)));
    }

    #[test]
    fn displays_with_fixed_digits() {
        assert_eq!(Money(100_000).to_string(), "1000.00");
        assert_eq!(Money(5).to_string(), "0.05");
        assert_eq!(Money(-32).to_string(), "-0.32");
        assert_eq!(Money(i64::MIN).to_string(), "-92233720368547758.08");
        assert_eq!(
            WideMoney(i128::MIN).to_string(),
            "-1701411834604692317316873037158841057.28"
        );
        assert_eq!(WideMoney(-7).to_string(), "-0.07");
        assert_eq!(Price(245_520).to_string(), "24.552");
        assert_eq!(Price(137_200).to_string(), "13.72");
        assert_eq!(Price(1).to_string(), "0.0001");
        assert_eq!(Price(10_000).to_string(), "1.00");
    }

    #[test]
    fn cost_rounds_up_and_proceeds_round_down() {
        let sterlin_sell = Price::parse("24.552").unwrap();
        let one_cent = Money::parse("0.01").unwrap();
        // 0.01 x 24.552 = 0.24552: the trader pays 0.25 and is paid 0.24.
        assert_eq!(sterlin_sell.cost_of(one_cent), Some(Money(25)));
        assert_eq!(sterlin_sell.proceeds_of(one_cent), Some(Money(24)));
        // Exact products are not rounded either way.
        let dollar_sell = Price::parse("13.72").unwrap();
        assert_eq!(dollar_sell.cost_of(Money(100)), Some(Money(1372)));
        assert_eq!(dollar_sell.proceeds_of(Money(100)), Some(Money(1372)));
        assert_eq!(dollar_sell.cost_of(Money::ZERO), Some(Money::ZERO));
    }

    #[test]
    fn overflow_is_refused() {
        let price = Price(i64::MAX);
        assert_eq!(price.cost_of(Money(i64::MAX)), None);
        assert_eq!(price.proceeds_of(Money(i64::MAX)), None);
        assert_eq!(Money(i64::MAX).checked_add(Money(1)), None);
        assert_eq!(Money(i64::MIN).checked_sub(Money(1)), None);
        assert_eq!(Money(i64::MAX).checked_mul_count(2), None);
    }

    #[test]
    fn values_never_overflow() {
        let most = Money(i64::MAX);
        assert_eq!(Price(137_200).value_of(Money(100)), WideMoney(1372));
        assert_eq!(
            Price(i64::MAX).value_of(most),
            WideMoney(i128::from(i64::MAX) * i128::from(i64::MAX) / 10_000)
        );
        assert_eq!(
            WideMoney::from(most).plus(WideMoney::from(most)),
            WideMoney(2 * i128::from(i64::MAX))
        );
        assert_eq!(
            WideMoney(i128::MAX).plus(WideMoney(1)),
            WideMoney(i128::MAX)
        );
    }

    #[test]
    fn serializes_as_strings() {
        assert_eq!(serde_json::to_string(&Money(1250)).unwrap(), "\"12.50\"");
        assert_eq!(serde_json::to_string(&Price(137_200)).unwrap(), "\"13.72\"");
    }

    use proptest::prelude::prop_oneof;

    proptest::proptest! {
        #[test]
        fn display_then_parse_is_identity(hundredths in 0..=i64::MAX) {
            let money = Money(hundredths);
            proptest::prop_assert_eq!(Money::parse(&money.to_string()), Ok(money));
        }

        #[test]
        fn cost_and_proceeds_bracket_the_exact_product(
            amount in prop_oneof![0..1_000_000_000_i64, 0..i64::MAX / 1_000],
            price in prop_oneof![1..10_000_000_i64, 1..i64::MAX / 1_000],
        ) {
            let exact_millionths = i128::from(amount) * i128::from(price);
            let (Some(cost), Some(proceeds)) = (Price(price).cost_of(Money(amount)), Price(price).proceeds_of(Money(amount))) else {
                // Refused only when the result cannot be an i64.
                proptest::prop_assert!(exact_millionths / 10_000 >= i128::from(i64::MAX) - 1);
                return Ok(());
            };
            proptest::prop_assert!(i128::from(cost.0) * 10_000 >= exact_millionths);
            proptest::prop_assert!(i128::from(cost.0 - 1) * 10_000 < exact_millionths);
            proptest::prop_assert!(i128::from(proceeds.0) * 10_000 <= exact_millionths);
            proptest::prop_assert!(i128::from(proceeds.0 + 1) * 10_000 > exact_millionths);
        }
    }
}
