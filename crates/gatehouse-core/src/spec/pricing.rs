//! A model's price, in US dollars per million tokens: what the usage reports turn token counts into.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::FieldError;

/// `pricing: {input_per_million_tokens: 2.5, output_per_million_tokens: 10}` on a model.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPricing {
    /// US dollars per million prompt tokens.
    pub input_per_million_tokens: f64,
    /// US dollars per million completion tokens.
    pub output_per_million_tokens: f64,
}

// By `total_cmp`, a total order, so that specs (which the engine and apply compare) keep a lawful `Eq`
// even over floats. Validation keeps the values finite, where it agrees with `==` except that 0 and -0
// differ, which at worst reports a no-op change.
impl PartialEq for ModelPricing {
    fn eq(&self, other: &Self) -> bool {
        self.input_per_million_tokens.total_cmp(&other.input_per_million_tokens) == Ordering::Equal
            && self.output_per_million_tokens.total_cmp(&other.output_per_million_tokens) == Ordering::Equal
    }
}

impl Eq for ModelPricing {}

impl ModelPricing {
    /// Field paths are relative to `pricing`.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (field, v) in [
            ("input_per_million_tokens", self.input_per_million_tokens),
            ("output_per_million_tokens", self.output_per_million_tokens),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(FieldError::new(
                    field,
                    format!("must be a finite number of US dollars, 0 or more, not {v}"),
                ));
            }
        }
        Ok(())
    }

    /// The price of these token counts, in US dollars.
    pub fn cost_usd(&self, input_tokens: i64, output_tokens: i64) -> f64 {
        input_tokens as f64 * self.input_per_million_tokens / 1e6
            + output_tokens as f64 * self.output_per_million_tokens / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_world::fails_at;

    fn price(input: f64, output: f64) -> ModelPricing {
        ModelPricing { input_per_million_tokens: input, output_per_million_tokens: output }
    }

    #[test]
    fn prices_are_finite_and_not_negative() {
        assert!(price(0.0, 0.0).validate().is_ok());
        assert!(price(2.5, 10.0).validate().is_ok());
        fails_at(price(-0.01, 1.0).validate(), "input_per_million_tokens");
        fails_at(price(1.0, f64::NAN).validate(), "output_per_million_tokens");
        fails_at(price(f64::INFINITY, 1.0).validate(), "input_per_million_tokens");
    }

    #[test]
    fn cost_and_equality() {
        let p = price(2.5, 10.0);
        assert!((p.cost_usd(1_000_000, 500_000) - 7.5).abs() < 1e-12);
        assert_eq!(p.cost_usd(0, 0), 0.0);
        assert_eq!(p, price(2.5, 10.0));
        assert_ne!(p, price(2.5, 10.5));
    }
}
