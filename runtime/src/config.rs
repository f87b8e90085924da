//! Run-wide policy knobs: the profile (S8) and the startup policy (S4.3).
//!
//! Both are recorded in every trace header, so a trace says under which policy it was made.

use std::fmt;

/// Which Windows the dispatcher behaves like (S8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Profile {
    /// NSPv2 providers for any namespace.
    #[default]
    Win7,
    /// Only NS_EMAIL providers may be advertised.
    Vista,
}

impl Profile {
    pub const ALL: [Profile; 2] = [Profile::Win7, Profile::Vista];

    pub const fn name(self) -> &'static str {
        match self {
            Profile::Win7 => "win7",
            Profile::Vista => "vista",
        }
    }
    pub fn from_name(s: &str) -> Option<Profile> {
        match s {
            "win7" => Some(Profile::Win7),
            "vista" => Some(Profile::Vista),
            _ => None,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When NSPv2Startup and NSPv2Cleanup run (S4.3, S4.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StartupPolicy {
    /// One session per process and provider, whatever the WSAStartup count.
    #[default]
    PerProcess,
    /// As many sessions per provider as the process has WSAStartups outstanding.
    PerWsaStartup,
}

impl StartupPolicy {
    pub const ALL: [StartupPolicy; 2] = [StartupPolicy::PerProcess, StartupPolicy::PerWsaStartup];

    pub const fn name(self) -> &'static str {
        match self {
            StartupPolicy::PerProcess => "per-process",
            StartupPolicy::PerWsaStartup => "per-wsastartup",
        }
    }
    pub fn from_name(s: &str) -> Option<StartupPolicy> {
        match s {
            "per-process" => Some(StartupPolicy::PerProcess),
            "per-wsastartup" => Some(StartupPolicy::PerWsaStartup),
            _ => None,
        }
    }
}

impl fmt::Display for StartupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The dispatcher's configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub profile: Profile,
    pub startup_policy: StartupPolicy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_defaults_match_the_semantics() {
        assert_eq!(Profile::default(), Profile::Win7);
        assert_eq!(StartupPolicy::default(), StartupPolicy::PerProcess);
        for p in [Profile::Win7, Profile::Vista] {
            assert_eq!(Profile::from_name(p.name()), Some(p));
        }
        for p in [StartupPolicy::PerProcess, StartupPolicy::PerWsaStartup] {
            assert_eq!(StartupPolicy::from_name(p.name()), Some(p));
        }
        assert_eq!(Profile::from_name("xp"), None);
    }
}
