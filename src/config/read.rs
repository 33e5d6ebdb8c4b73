//! A typed reader over one parsed TOML table that collects every error instead of
//! stopping at the first.
//!
//! Each `get` names a key the schema knows; whatever else the table holds is reported
//! by `finish` as an unknown key, with the closest known key suggested, so three typos
//! in one table give three errors. Values are decoded with serde
//! (`toml::de::ValueDeserializer`, with `serde_path_to_error` for paths inside arrays
//! and inline tables) and come back as `Val`s that remember where they were written.
//! Environment overrides for `[gateway]`, `[uplink]` and `[buffer]` are consulted before
//! the file. The reader knows nothing of sitewarden's keys; `file` and `profile` do.

use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::env::EnvVar;
use super::error::{ConfigError, Loc, Source};
use super::format::{Size, bad_name, closest, from_env, plain, unknown};

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Val<T> {
    pub(super) v: T,
    pub(super) loc: Loc,
}

/// Reads the keys of one table. Create with `root`, descend with `table` and `array`,
/// and call `finish` when every known key has been asked for.
pub(super) struct Reader<'a, 'i> {
    src: &'a Source<'a>,
    /// Key path of this table, e.g. `device[3]`; empty at the root.
    path: String,
    /// Where the table starts (its header), for errors about missing keys.
    loc: Loc,
    /// None when the table is absent from the file.
    table: Option<&'a DeTable<'i>>,
    /// Overrides for keys of this table.
    env_here: Vec<&'a EnvVar>,
    /// Overrides to hand to sub-tables (only the root has any).
    env_children: Vec<&'a EnvVar>,
    /// Keys asked for so far, in schema order.
    known: Vec<&'static str>,
    /// Known keys that do not apply here (`not_here`): not unknown, but not offered in
    /// "expected one of" either.
    hidden: Vec<&'static str>,
}

impl<'a, 'i> Reader<'a, 'i> {
    pub(super) fn root(
        src: &'a Source<'a>,
        table: &'a Spanned<DeTable<'i>>,
        env: &'a [EnvVar],
    ) -> Self {
        Reader {
            src,
            path: String::new(),
            loc: src.loc(table.span(), String::new()),
            table: Some(table.get_ref()),
            env_here: Vec::new(),
            env_children: env.iter().collect(),
            known: Vec::new(),
            hidden: Vec::new(),
        }
    }

    pub(super) fn loc(&self) -> &Loc {
        &self.loc
    }

    fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn entry(&self, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.table?.get(key)
    }

    fn env(&self, key: &str) -> Option<&'a EnvVar> {
        self.env_here.iter().copied().find(|v| v.key == key)
    }

    fn learn(&mut self, key: &'static str) {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
    }

    /// Where `key` is set (file or environment), if it is; marks it as known.
    pub(super) fn given(&mut self, key: &'static str) -> Option<Loc> {
        self.learn(key);
        let path = self.key_path(key);
        if let Some(var) = self.env(key) {
            return Some(Loc::env(&var.var, path));
        }
        let value = self.entry(key)?;
        Some(self.src.loc(value.span(), path))
    }

    /// The value of `key` decoded as `T`; None if absent or invalid (then an error is
    /// pushed).
    pub(super) fn get<T: DeserializeOwned>(
        &mut self,
        key: &'static str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Val<T>> {
        self.learn(key);
        let path = self.key_path(key);
        if let Some(var) = self.env(key) {
            let loc = Loc::env(&var.var, path);
            return match from_env::<T>(&var.value) {
                Ok(v) => Some(Val { v, loc }),
                Err(message) => {
                    errors.push(loc.error(message));
                    None
                }
            };
        }
        let value = self.entry(key)?;
        let loc = self.src.loc(value.span(), path);
        match serde_path_to_error::deserialize::<_, T>(ValueDeserializer::from(value.clone())) {
            Ok(v) => Some(Val { v, loc }),
            Err(e) => {
                let inner = e.path().to_string();
                let key = match inner.as_str() {
                    "." => loc.key.clone(),
                    p if p.starts_with('[') => format!("{}{p}", loc.key),
                    p => format!("{}.{p}", loc.key),
                };
                let error = e.into_inner();
                let at = match error.span() {
                    Some(span) => self.src.loc(span, key),
                    None => loc.with_key(key),
                };
                errors.push(at.error(plain(error.message())));
                None
            }
        }
    }

    /// Reads a key that must be present with `read` (e.g. `Reader::name`); an absent
    /// key is an error.
    pub(super) fn required<T>(
        &mut self,
        key: &'static str,
        errors: &mut Vec<ConfigError>,
        read: impl FnOnce(&mut Self, &'static str, &mut Vec<ConfigError>) -> Option<T>,
    ) -> Option<T> {
        if self.env(key).is_none() && self.entry(key).is_none() {
            self.learn(key);
            // A misspelt required key is reported once, as the unknown key that suggests
            // this one, not a second time as missing.
            if !self.misspelt(key) {
                errors.push(self.missing(key));
            }
            return None;
        }
        read(self, key, errors)
    }

    /// Does the table hold an unknown key that reads as a misspelling of `key`?
    fn misspelt(&self, key: &str) -> bool {
        self.table.is_some_and(|t| {
            t.iter().any(|(k, _)| {
                let name: &str = k.get_ref();
                name != key && closest(name, &[key]).is_some()
            })
        })
    }

    /// The error for a required key that is absent.
    pub(super) fn missing(&self, key: &str) -> ConfigError {
        self.loc
            .with_key(self.key_path(key))
            .error(format!("missing key `{key}`"))
    }

    /// A duration such as `500ms`, `60s` or `7d`.
    pub(super) fn duration(
        &mut self,
        key: &'static str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Val<Duration>> {
        let s = self.get::<String>(key, errors)?;
        match humantime::parse_duration(&s.v) {
            Ok(v) => Some(Val { v, loc: s.loc }),
            Err(e) => {
                errors.push(s.loc.error(format!("invalid duration `{}`: {e}", s.v)));
                None
            }
        }
    }

    /// A byte size such as `256MiB`, or a plain number of bytes.
    pub(super) fn size(
        &mut self,
        key: &'static str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Val<u64>> {
        let s = self.get::<Size>(key, errors)?;
        let bytes = match s.v {
            Size::Bytes(n) => Ok(n),
            Size::Text(t) => t
                .parse::<bytesize::ByteSize>()
                .map(|b| b.as_u64())
                .map_err(|_| t),
        };
        match bytes {
            Ok(v) => Some(Val { v, loc: s.loc }),
            Err(t) => {
                let message =
                    format!("invalid size `{t}`, write it as 256MiB or a number of bytes");
                errors.push(s.loc.error(message));
                None
            }
        }
    }

    /// An integer that must lie in `range`.
    pub(super) fn int_in(
        &mut self,
        key: &'static str,
        range: std::ops::RangeInclusive<i64>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Val<i64>> {
        let n = self.get::<i64>(key, errors)?;
        if range.contains(&n.v) {
            Some(n)
        } else {
            errors.push(n.loc.error(out_of_range(n.v, &range)));
            None
        }
    }

    /// A finite number (integers are accepted).
    pub(super) fn number(
        &mut self,
        key: &'static str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Val<f64>> {
        let n = self.get::<f64>(key, errors)?;
        if n.v.is_finite() {
            Some(n)
        } else {
            errors.push(n.loc.error(format!("{} is not a finite number", n.v)));
            None
        }
    }

    /// A name of the form `[a-z0-9-]+`. An ill-formed name is reported but still
    /// returned, so references to it do not cascade into "unknown" errors.
    pub(super) fn name(
        &mut self,
        key: &'static str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Val<String>> {
        let s = self.get::<String>(key, errors)?;
        if let Some(message) = bad_name(&s.v) {
            errors.push(s.loc.error(message));
        }
        Some(s)
    }

    /// One of a fixed set of words, e.g. `parity = "even"`.
    pub(super) fn choice<T: Copy>(
        &mut self,
        key: &'static str,
        what: &str,
        options: &[(&'static str, T)],
        errors: &mut Vec<ConfigError>,
    ) -> Option<Val<T>> {
        let s = self.get::<String>(key, errors)?;
        match options.iter().find(|(name, _)| *name == s.v) {
            Some((_, v)) => Some(Val { v: *v, loc: s.loc }),
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                errors.push(s.loc.error(unknown(what, &s.v, &names)));
                None
            }
        }
    }

    /// Keys that make no sense in this table as configured (e.g. `baud` on a TCP
    /// connection): each one present is an error saying so.
    pub(super) fn not_here(
        &mut self,
        keys: &[&'static str],
        why: &str,
        errors: &mut Vec<ConfigError>,
    ) {
        for key in keys {
            if !self.hidden.contains(key) {
                self.hidden.push(key);
            }
            if let Some(loc) = self.given(key) {
                errors.push(loc.error(format!("`{key}` does not apply {why}")));
            }
        }
    }

    /// The sub-table `key` (e.g. `[uplink]`), empty if absent.
    pub(super) fn table(
        &mut self,
        key: &'static str,
        errors: &mut Vec<ConfigError>,
    ) -> Reader<'a, 'i> {
        self.learn(key);
        let path = self.key_path(key);
        let env_here = self
            .env_children
            .iter()
            .copied()
            .filter(|v| v.section == key)
            .collect();
        let (table, loc) = match self.entry(key) {
            Some(value) => {
                let loc = self.src.loc(value.span(), path.clone());
                match value.get_ref() {
                    DeValue::Table(t) => (Some(t), loc),
                    other => {
                        errors.push(loc.error(format!(
                            "expected a table [{key}], found {}",
                            other.type_str()
                        )));
                        (None, loc)
                    }
                }
            }
            None => (None, self.src.whole(path.clone())),
        };
        Reader {
            src: self.src,
            path,
            loc,
            table,
            env_here,
            env_children: Vec::new(),
            known: Vec::new(),
            hidden: Vec::new(),
        }
    }

    /// The tables of the array `key` (e.g. every `[[device]]`), empty if absent.
    pub(super) fn array(
        &mut self,
        key: &'static str,
        errors: &mut Vec<ConfigError>,
    ) -> Vec<Reader<'a, 'i>> {
        self.learn(key);
        let path = self.key_path(key);
        let Some(value) = self.entry(key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            let loc = self.src.loc(value.span(), path);
            errors.push(loc.error(format!(
                "expected an array of tables [[{key}]], found {}",
                value.get_ref().type_str()
            )));
            return Vec::new();
        };
        let mut readers = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let loc = self.src.loc(item.span(), format!("{path}[{i}]"));
            match item.get_ref() {
                DeValue::Table(t) => readers.push(Reader {
                    src: self.src,
                    path: loc.key.clone(),
                    loc,
                    table: Some(t),
                    env_here: Vec::new(),
                    env_children: Vec::new(),
                    known: Vec::new(),
                    hidden: Vec::new(),
                }),
                other => errors.push(loc.error(format!(
                    "expected a table in [[{key}]], found {}",
                    other.type_str()
                ))),
            }
        }
        readers
    }

    /// Reports every key (and environment override) that no `get` asked for.
    pub(super) fn finish(self, errors: &mut Vec<ConfigError>) {
        let offered: Vec<&str> = (self.known.iter().copied())
            .filter(|k| !self.hidden.contains(k))
            .collect();
        let expected = offered.join(", ");
        if let Some(table) = self.table {
            for (key, _) in table.iter() {
                let name: &str = key.get_ref();
                if self.known.contains(&name) {
                    continue;
                }
                let loc = self.src.loc(key.span(), self.key_path(name));
                errors.push(loc.error(unknown_key(name, &offered, &expected)));
            }
        }
        for var in &self.env_here {
            if !self.known.contains(&var.key.as_str()) {
                let loc = Loc::env(&var.var, self.key_path(&var.key));
                let message = match closest(&var.key, &offered) {
                    Some(k) => format!(
                        "unknown variable, [{}] has no key `{}` (did you mean SITEWARDEN__{}__{}?)",
                        var.section,
                        var.key,
                        var.section.to_uppercase(),
                        k.to_uppercase()
                    ),
                    None => format!(
                        "unknown variable, [{}] has no key `{}`; expected one of: {expected}",
                        var.section, var.key
                    ),
                };
                errors.push(loc.error(message));
            }
        }
    }
}

fn out_of_range(n: i64, range: &std::ops::RangeInclusive<i64>) -> String {
    format!("{n} is out of range {}..={}", range.start(), range.end())
}

fn unknown_key(key: &str, known: &[&str], expected: &str) -> String {
    match closest(key, known) {
        Some(k) => {
            format!("unknown key `{key}` (did you mean `{k}`?), expected one of: {expected}")
        }
        None => format!("unknown key `{key}`, expected one of: {expected}"),
    }
}

/// Applies a fallible conversion to a read value, pushing its error at the value.
pub(super) fn check<T, U>(
    v: Option<Val<T>>,
    errors: &mut Vec<ConfigError>,
    f: impl FnOnce(&T) -> Result<U, String>,
) -> Option<Val<U>> {
    let v = v?;
    match f(&v.v) {
        Ok(u) => Some(Val { v: u, loc: v.loc }),
        Err(message) => {
            errors.push(v.loc.error(message));
            None
        }
    }
}

/// A duration that must not be zero.
pub(super) fn positive(
    v: Option<Val<Duration>>,
    errors: &mut Vec<ConfigError>,
) -> Option<Val<Duration>> {
    check(v, errors, |&d| {
        if d.is_zero() {
            Err("must be longer than 0s".to_string())
        } else {
            Ok(d)
        }
    })
}
