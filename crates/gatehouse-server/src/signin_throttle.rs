//! Failed sign-ins slow down whoever makes them, without handing an attacker a way to lock a real user
//! out.
//!
//! Failures are counted three ways, each forgotten after a quiet spell (`forget_after`) and each blocking
//! for short windows that double with every further failure, up to a cap; a blocked attempt is refused
//! (429 with `Retry-After`) before any password is hashed, and is not counted:
//! - one account from one address: the guesser's own address is slowed, nobody else's;
//! - one address, any accounts: one address spraying many accounts;
//! - one account, any addresses: a guess spread over many addresses. This one is what could lock a real
//!   user out, so it starts late, its windows stay short (a minute at most), and it never applies from an
//!   address where that account has signed in before: its owner keeps signing in from their usual places
//!   while someone else is guessing from elsewhere.
//!
//! A success clears that account's counts (from that address and overall). Unknown accounts are counted
//! exactly like real ones, so throttling says nothing about which accounts exist. The tables are bounded:
//! when one is full, the entry quiet the longest goes.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

#[derive(Clone, Debug)]
pub struct ThrottlePolicy {
    /// Failures of one account from one address before the first block.
    pub pair_free: u32,
    pub pair_cap: Duration,
    /// Failures from one address (any accounts) before the first block.
    pub address_free: u32,
    pub address_cap: Duration,
    /// Failures of one account (any addresses) before the first block.
    pub account_free: u32,
    pub account_cap: Duration,
    /// The first block's length; each further failure doubles it, up to the cap.
    pub base: Duration,
    /// A count with no failure for this long starts again from zero.
    pub forget_after: Duration,
    /// How long an address where an account signed in stays exempt from that account's overall block.
    pub remember_success: Duration,
    /// Entries per table.
    pub capacity: usize,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            pair_free: 5,
            pair_cap: Duration::minutes(15),
            address_free: 30,
            address_cap: Duration::minutes(15),
            account_free: 50,
            account_cap: Duration::minutes(1),
            base: Duration::seconds(1),
            forget_after: Duration::minutes(15),
            remember_success: Duration::days(30),
            capacity: 100_000,
        }
    }
}

#[derive(Clone, Copy)]
struct Count {
    failures: u32,
    last: OffsetDateTime,
    blocked_until: OffsetDateTime,
}

struct Table<K> {
    entries: HashMap<K, Count>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new() -> Self {
        Table { entries: HashMap::new() }
    }

    fn blocked(&self, k: &K, now: OffsetDateTime) -> Option<Duration> {
        self.entries.get(k).map(|c| c.blocked_until - now).filter(|d| d.is_positive())
    }

    fn fail(&mut self, k: K, now: OffsetDateTime, free: u32, cap: Duration, p: &ThrottlePolicy) {
        if !self.entries.contains_key(&k) {
            make_room(&mut self.entries, p.capacity, |c| c.last);
        }
        let c = self.entries.entry(k).or_insert(Count { failures: 0, last: now, blocked_until: now });
        if now - c.last > p.forget_after {
            c.failures = 0;
        }
        c.failures = c.failures.saturating_add(1);
        c.last = now;
        if let Some(over) = c.failures.checked_sub(free).filter(|o| *o > 0) {
            // 2^(over-1) seconds, without overflowing: past 2^20 the cap has long been reached.
            let factor = 1i32 << over.saturating_sub(1).min(20);
            c.blocked_until = now + (p.base * factor).min(cap);
        }
    }
}

/// When a table is full, drops what is stale, and if that is not enough the entry quiet the longest.
fn make_room<K: Hash + Eq + Clone, V>(m: &mut HashMap<K, V>, capacity: usize, last: impl Fn(&V) -> OffsetDateTime) {
    if m.len() < capacity {
        return;
    }
    if let Some(oldest) = m.iter().min_by_key(|(_, v)| last(v)).map(|(k, _)| k.clone()) {
        m.remove(&oldest);
    }
}

struct Tables {
    pairs: Table<(String, IpAddr)>,
    addresses: Table<IpAddr>,
    accounts: Table<String>,
    /// (account, address) → last successful sign-in.
    known: HashMap<(String, IpAddr), OffsetDateTime>,
}

pub struct SigninThrottle {
    policy: ThrottlePolicy,
    tables: Mutex<Tables>,
}

/// The key of an account, whether or not it exists: what the client typed, normalised and bounded.
fn account_key(email: &str) -> String {
    email.trim().chars().take(320).collect::<String>().to_lowercase()
}

/// IPv6 clients usually hold a whole /64: counting per address would let one walk through it.
fn address_key(ip: Option<IpAddr>) -> IpAddr {
    match ip {
        Some(IpAddr::V6(v6)) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        Some(v4) => v4,
        None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    }
}

impl SigninThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        let tables =
            Tables { pairs: Table::new(), addresses: Table::new(), accounts: Table::new(), known: HashMap::new() };
        SigninThrottle { policy, tables: Mutex::new(tables) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long the caller must wait before trying this account from this address, if at all.
    pub fn check(&self, email: &str, ip: Option<IpAddr>, now: OffsetDateTime) -> Option<Duration> {
        let (account, addr) = (account_key(email), address_key(ip));
        let t = self.lock();
        let pair = (account, addr);
        let known = t.known.get(&pair).is_some_and(|at| now - *at <= self.policy.remember_success);
        let account_block = if known { None } else { t.accounts.blocked(&pair.0, now) };
        [t.pairs.blocked(&pair, now), t.addresses.blocked(&addr, now), account_block].into_iter().flatten().max()
    }

    pub fn failed(&self, email: &str, ip: Option<IpAddr>, now: OffsetDateTime) {
        let (account, addr) = (account_key(email), address_key(ip));
        let p = &self.policy;
        let mut t = self.lock();
        t.pairs.fail((account.clone(), addr), now, p.pair_free, p.pair_cap, p);
        t.addresses.fail(addr, now, p.address_free, p.address_cap, p);
        t.accounts.fail(account, now, p.account_free, p.account_cap, p);
    }

    pub fn succeeded(&self, email: &str, ip: Option<IpAddr>, now: OffsetDateTime) {
        let (account, addr) = (account_key(email), address_key(ip));
        let mut t = self.lock();
        let pair = (account, addr);
        t.pairs.entries.remove(&pair);
        t.accounts.entries.remove(&pair.0);
        if !t.known.contains_key(&pair) {
            make_room(&mut t.known, self.policy.capacity, |at| *at);
        }
        t.known.insert(pair, now);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }
    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn windows_grow_and_are_capped_and_forgotten() {
        let t = SigninThrottle::new(ThrottlePolicy::default());
        for _ in 0..5 {
            assert_eq!(t.check("a@x.io", ip("1.2.3.4"), at(0)), None);
            t.failed("a@x.io", ip("1.2.3.4"), at(0));
        }
        assert_eq!(t.check("a@x.io", ip("1.2.3.4"), at(0)), None, "five free failures");
        t.failed("a@x.io", ip("1.2.3.4"), at(0));
        assert_eq!(t.check("A@X.io ", ip("1.2.3.4"), at(0)), Some(Duration::seconds(1)));
        assert_eq!(t.check("a@x.io", ip("1.2.3.5"), at(0)), None, "another address is not blocked");
        t.failed("a@x.io", ip("1.2.3.4"), at(1));
        assert_eq!(t.check("a@x.io", ip("1.2.3.4"), at(1)), Some(Duration::seconds(2)));
        for i in 0..40 {
            t.failed("a@x.io", ip("1.2.3.4"), at(2 + i));
        }
        assert_eq!(t.check("a@x.io", ip("1.2.3.4"), at(41)), Some(Duration::minutes(15)), "capped");
        assert_eq!(t.check("a@x.io", ip("1.2.3.4"), at(41 + 15 * 60 + 1)), None);
        t.failed("a@x.io", ip("1.2.3.4"), at(41 + 31 * 60));
        assert_eq!(t.check("a@x.io", ip("1.2.3.4"), at(41 + 31 * 60)), None, "forgotten after a quiet spell");
    }

    #[test]
    fn success_resets_and_a_known_address_is_not_locked_out_by_others() {
        let t = SigninThrottle::new(ThrottlePolicy::default());
        t.succeeded("a@x.io", ip("10.0.0.1"), at(0));
        // Fifty-one failures spread over many addresses block the account elsewhere...
        for i in 0..51u8 {
            t.failed("a@x.io", ip(&format!("192.0.2.{i}")), at(1));
        }
        assert!(t.check("a@x.io", ip("198.51.100.1"), at(1)).is_some());
        assert!(t.check("a@x.io", ip("198.51.100.1"), at(1)).unwrap() <= Duration::minutes(1));
        // ...but not where its owner signs in.
        assert_eq!(t.check("a@x.io", ip("10.0.0.1"), at(1)), None);
        t.succeeded("a@x.io", ip("10.0.0.1"), at(2));
        assert_eq!(t.check("a@x.io", ip("198.51.100.1"), at(2)), None, "a success clears the account's count");
    }

    #[test]
    fn one_address_spraying_many_accounts_is_slowed() {
        let t = SigninThrottle::new(ThrottlePolicy::default());
        for i in 0..31 {
            t.failed(&format!("u{i}@x.io"), ip("2001:db8::1"), at(0));
        }
        assert!(t.check("new@x.io", ip("2001:db8::ffff"), at(0)).is_some(), "the same /64");
        assert_eq!(t.check("new@x.io", ip("2001:db8:0:1::1"), at(0)), None);
    }

    #[test]
    fn tables_stay_bounded() {
        let t = SigninThrottle::new(ThrottlePolicy { capacity: 10, ..ThrottlePolicy::default() });
        for i in 0..100 {
            t.failed(&format!("u{i}@x.io"), ip(&format!("10.0.0.{i}")), at(i));
        }
        let tables = t.lock();
        assert!(tables.pairs.entries.len() <= 10 && tables.accounts.entries.len() <= 10);
        assert!(tables.addresses.entries.len() <= 10);
    }
}
