//! Sizes as messages print them.

/// `1.5 GiB`, `12.0 MiB`, `512 bytes`.
pub fn fmt_bytes(bytes: u128) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_in_their_largest_unit() {
        assert_eq!(super::fmt_bytes(512), "512 bytes");
        assert_eq!(super::fmt_bytes(3 << 29), "1.5 GiB");
    }
}
