//! The Lua scripts of `lua/`, embedded at compile time and run through
//! [`platform::redis::Connection::run_script`] (EVALSHA, loading the script again when Redis
//! answers NOSCRIPT, e.g. after a restart; EVAL and WAIT when replicas must have each change).
//!
//! Item scripts are the shared `item_prelude.lua` followed by the script's own body, so each is
//! one atomic script that sees the prelude's helpers and key layout.

use platform::redis::LuaScript as Script;

macro_rules! item_script {
    ($file:literal) => {
        concat!(
            include_str!("../../../lua/item_prelude.lua"),
            include_str!(concat!("../../../lua/", $file))
        )
    };
}

/// The source of every item script, by name (for the benchmark, which loads the very same text
/// into `redis-benchmark`).
pub const RESERVE_SOURCE: &str = item_script!("reserve.lua");

/// Every script the store runs, compiled once per process.
pub struct Scripts {
    /// `item_create.lua`
    pub create: Script,
    /// `item_update.lua`
    pub update: Script,
    /// `item_delete.lua`
    pub delete: Script,
    /// `reserve.lua`
    pub reserve: Script,
    /// `confirm.lua`
    pub confirm: Script,
    /// `release.lua`
    pub release: Script,
    /// `cancel.lua`
    pub cancel: Script,
    /// `expire.lua`
    pub expire: Script,
    /// `outbox_ack.lua` (not an item script)
    pub outbox_ack: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Self {
            create: Script::new(item_script!("item_create.lua")),
            update: Script::new(item_script!("item_update.lua")),
            delete: Script::new(item_script!("item_delete.lua")),
            reserve: Script::new(RESERVE_SOURCE),
            confirm: Script::new(item_script!("confirm.lua")),
            release: Script::new(item_script!("release.lua")),
            cancel: Script::new(item_script!("cancel.lua")),
            expire: Script::new(item_script!("expire.lua")),
            outbox_ack: Script::new(include_str!("../../../lua/outbox_ack.lua")),
        }
    }
}
