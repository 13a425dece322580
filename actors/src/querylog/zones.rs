//! Which hosted zone a queried name falls in (the longest matching suffix),
//! so a user's query stream shows their zones only.

use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct ZoneIndex {
    /// Lowercase zone name without the trailing dot -> (id, name).
    by_name: HashMap<String, (i32, String)>,
}

impl ZoneIndex {
    pub fn new(zones: impl IntoIterator<Item = (i32, String)>) -> Self {
        let by_name = zones
            .into_iter()
            .map(|(id, name)| {
                let key = crate::names::lookup_key(&name).into_owned();
                (key.clone(), (id, key))
            })
            .collect();
        Self { by_name }
    }

    pub fn find(&self, name: &str) -> Option<(i32, &str)> {
        if self.by_name.is_empty() {
            return None;
        }
        let key = crate::names::lookup_key(name);
        let mut n: &str = &key;
        loop {
            if let Some((id, zone)) = self.by_name.get(n) {
                return Some((*id, zone.as_str()));
            }
            n = &n[n.find('.')? + 1..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_suffix_wins() {
        let z = ZoneIndex::new([(1, "example.com.".into()), (2, "sub.example.com".into())]);
        assert_eq!(z.find("www.Sub.Example.com"), Some((2, "sub.example.com")));
        assert_eq!(z.find("www.example.com."), Some((1, "example.com")));
        assert_eq!(z.find("example.com"), Some((1, "example.com")));
        assert_eq!(z.find("example.org"), None);
        assert_eq!(z.find("com"), None);
    }
}
