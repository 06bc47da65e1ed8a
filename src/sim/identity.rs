//! Who a simulated agent is: a stable instance UID and a plausible host, derived only
//! from the run's seed and the agent's index so a restarted `simulate` run reuses them.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::fleet::agent::AgentId;

/// The Collector distribution the simulated agents claim to be.
pub const SERVICE_NAME: &str = "otelcol-contrib";

/// Versions spread over the fleet, newest most common (weights sum to 100).
const VERSIONS: [(&str, u32); 4] = [
    ("0.132.0", 45),
    ("0.131.0", 30),
    ("0.129.1", 15),
    ("0.124.0", 10),
];
const ENVS: [(&str, u32); 3] = [("prod", 60), ("staging", 25), ("dev", 15)];
const REGIONS: [(&str, u32); 4] = [
    ("us-east-1", 35),
    ("eu-west-1", 30),
    ("us-west-2", 20),
    ("ap-southeast-1", 15),
];
const TIERS: [(&str, u32); 5] = [
    ("web", 35),
    ("api", 25),
    ("db", 15),
    ("edge", 15),
    ("batch", 10),
];
/// (os.type, os.description, weight)
const SYSTEMS: [(&str, &str, u32); 5] = [
    ("linux", "Ubuntu 22.04.5 LTS", 35),
    ("linux", "Ubuntu 24.04.2 LTS", 25),
    ("linux", "Red Hat Enterprise Linux 9.4", 20),
    ("linux", "Debian GNU/Linux 12 (bookworm)", 12),
    ("windows", "Microsoft Windows Server 2022 Datacenter", 8),
];
const ARCHS: [(&str, u32); 2] = [("amd64", 80), ("arm64", 20)];

/// 2025-01-01T00:00:00Z: the UUIDv7 timestamps of simulated agents count up from here,
/// one millisecond per agent index, so ids sort in index order.
const UID_EPOCH_MS: u64 = 1_735_689_600_000;

/// Everything about an agent that does not change while it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub index: usize,
    pub uid: AgentId,
    pub version: &'static str,
    pub host_name: String,
    pub os_type: &'static str,
    pub os_description: &'static str,
    pub arch: &'static str,
    pub env: &'static str,
    pub region: &'static str,
    pub tier: &'static str,
    /// This agent refuses every remote configuration (`--fail-rate`).
    pub rejects_configs: bool,
    /// Seed for the agent's own random behaviour (telemetry, jitter).
    pub behaviour_seed: u64,
}

impl Identity {
    /// Derives agent `index` of a run with `seed`. `fail_rate` is the fraction (0..=1) of
    /// agents that reject configurations; which ones is fixed by seed and index.
    pub fn derive(seed: u64, index: usize, fail_rate: f64) -> Identity {
        let mut rng = agent_rng(seed, index);
        let mut random = [0u8; 10];
        rng.fill(&mut random);
        let uid = uuid::Builder::from_unix_timestamp_millis(
            UID_EPOCH_MS + (seed % 1000) * 100_000_000 + index as u64,
            &random,
        )
        .into_uuid();
        let version = pick(&mut rng, &VERSIONS);
        let env = pick(&mut rng, &ENVS);
        let region = pick(&mut rng, &REGIONS);
        let tier = pick(&mut rng, &TIERS);
        let (os_type, os_description) = pick_system(&mut rng);
        let arch = pick(&mut rng, &ARCHS);
        let rejects_configs = rng.random::<f64>() < fail_rate;
        let behaviour_seed = rng.random();
        Identity {
            index,
            uid: AgentId(*uid.as_bytes()),
            version,
            host_name: format!("{tier}-{}-{index:05}", short_region(region)),
            os_type,
            os_description,
            arch,
            env,
            region,
            tier,
            rejects_configs,
            behaviour_seed,
        }
    }

    /// Labels the fleet can select on, as (key, value).
    pub fn labels(&self) -> [(&'static str, &'static str); 3] {
        [
            ("env", self.env),
            ("region", self.region),
            ("tier", self.tier),
        ]
    }
}

fn agent_rng(seed: u64, index: usize) -> SmallRng {
    SmallRng::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(index as u64),
    )
}

fn pick<T: Copy>(rng: &mut SmallRng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (value, weight) in choices {
        if roll < *weight {
            return *value;
        }
        roll -= weight;
    }
    choices[choices.len() - 1].0
}

fn pick_system(rng: &mut SmallRng) -> (&'static str, &'static str) {
    let pairs: Vec<((&'static str, &'static str), u32)> =
        SYSTEMS.iter().map(|(t, d, w)| ((*t, *d), *w)).collect();
    pick(rng, &pairs)
}

/// `eu-west-1` → `euw1`, for host names.
fn short_region(region: &str) -> String {
    region
        .split('-')
        .map(|part| match part.parse::<u32>() {
            Ok(_) => part.to_string(),
            Err(_) => part
                .chars()
                .take(if part.len() <= 2 { 2 } else { 1 })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_index_give_the_same_agent() {
        assert_eq!(Identity::derive(7, 42, 0.1), Identity::derive(7, 42, 0.1));
    }

    #[test]
    fn uids_are_distinct_version_7_and_sorted_by_index() {
        let ids: Vec<AgentId> = (0..500).map(|i| Identity::derive(3, i, 0.0).uid).collect();
        for w in ids.windows(2) {
            assert!(w[0] < w[1], "{} !< {}", w[0], w[1]);
        }
        let uuid = uuid::Uuid::from_bytes(ids[0].0);
        assert_eq!(uuid.get_version_num(), 7);
    }

    #[test]
    fn another_seed_gives_other_uids() {
        assert_ne!(
            Identity::derive(1, 0, 0.0).uid,
            Identity::derive(2, 0, 0.0).uid
        );
    }

    #[test]
    fn fail_rate_selects_about_that_fraction() {
        let failing = (0..2000)
            .filter(|i| Identity::derive(9, *i, 0.25).rejects_configs)
            .count();
        assert!((400..600).contains(&failing), "{failing} of 2000");
        assert!((0..100).all(|i| Identity::derive(9, i, 1.0).rejects_configs));
        assert!((0..100).all(|i| !Identity::derive(9, i, 0.0).rejects_configs));
    }

    #[test]
    fn fleet_has_several_versions_and_regions() {
        let agents: Vec<Identity> = (0..200).map(|i| Identity::derive(5, i, 0.0)).collect();
        let versions: std::collections::BTreeSet<_> = agents.iter().map(|a| a.version).collect();
        let regions: std::collections::BTreeSet<_> = agents.iter().map(|a| a.region).collect();
        assert!(versions.len() >= 3);
        assert_eq!(regions.len(), REGIONS.len());
        assert_eq!(agents[42].host_name.split('-').next_back(), Some("00042"));
    }

    #[test]
    fn short_region_names() {
        assert_eq!(short_region("eu-west-1"), "euw1");
        assert_eq!(short_region("ap-southeast-1"), "aps1");
    }
}
