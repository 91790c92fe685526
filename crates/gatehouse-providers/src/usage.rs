use serde::{Deserialize, Serialize};

/// Token counts in one shape for every provider, for logs, rate limits and budgets.
///
/// `input_tokens` counts every prompt token, cached or not, because that is what OpenAI's
/// `prompt_tokens` means and what budgets are written against; the cache counts say how many of those
/// were served from or written to a provider's prompt cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub cache_write_input_tokens: u64,
}

impl TokenUsage {
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self { input_tokens, output_tokens, ..Self::default() }
    }

    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_adds_input_and_output() {
        assert_eq!(TokenUsage::new(12, 30).total_tokens(), 42);
        assert_eq!(TokenUsage::new(u64::MAX, 1).total_tokens(), u64::MAX);
    }
}
