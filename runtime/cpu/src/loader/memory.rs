//! The loaded object's memory: one anonymous mapping, writable (never executable) while the
//! loader fills it, then protected segment by segment, and unmapped on drop.
//!
//! Only x86-64 Linux has a real region; elsewhere [`HOST_SUPPORTED`] is false and a region
//! cannot be made, so the rest of the loader compiles, and is tested, the same everywhere.

use super::elf::Access;
use super::error::LoadError;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub(crate) use mapped::{HOST_SUPPORTED, Region, page_size};
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
pub(crate) use unsupported::{HOST_SUPPORTED, Region, page_size};

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod mapped {
    use super::{Access, LoadError};
    use std::ops::Range;

    pub(crate) const HOST_SUPPORTED: bool = true;

    pub(crate) fn page_size() -> u64 {
        // SAFETY: sysconf only reads a system constant.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(page).ok().filter(|p| p.is_power_of_two()).unwrap_or(4096)
    }

    /// An owned anonymous mapping; `start..start + len` is the part the object uses, aligned
    /// to the object's largest alignment.
    pub(crate) struct Region {
        mapping: *mut libc::c_void,
        mapping_len: usize,
        start: usize,
        len: usize,
    }

    // SAFETY: the region is plain memory owned by this value; after loading only the object's
    // own code writes to it (its writable data), which is the caller's concern as for any code.
    unsafe impl Send for Region {}
    unsafe impl Sync for Region {}

    fn os_error(call: &'static str, size: usize) -> LoadError {
        let reason = std::io::Error::last_os_error().to_string();
        LoadError::Memory { call, size, reason }
    }

    impl Region {
        /// Maps `len` zeroed, read-write bytes starting at a multiple of `align` (a power of
        /// two, at least the page size).
        pub(crate) fn map(len: u64, align: u64) -> Result<Region, LoadError> {
            let too_big = || LoadError::Malformed(format!("the object needs {len} bytes of memory"));
            let len = usize::try_from(len).map_err(|_| too_big())?;
            let align = usize::try_from(align).map_err(|_| too_big())?;
            let slack = align.saturating_sub(page_size() as usize);
            let mapping_len = len.checked_add(slack).ok_or_else(too_big)?;
            // SAFETY: a fresh private anonymous mapping aliases nothing.
            let mapping = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    mapping_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if mapping == libc::MAP_FAILED {
                return Err(os_error("mmap", mapping_len));
            }
            let start = (mapping as usize).next_multiple_of(align);
            Ok(Region { mapping, mapping_len, start, len })
        }

        /// The address of the first byte the object uses.
        pub(crate) fn base(&self) -> u64 {
            self.start as u64
        }

        /// The object's bytes, to fill before [`Region::protect`].
        pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
            // SAFETY: `start..start + len` lies in the mapping, which is readable and writable
            // until `protect`, and `&mut self` makes this the only reference.
            unsafe { std::slice::from_raw_parts_mut(self.start as *mut u8, self.len) }
        }

        /// Gives `range` (page-aligned offsets from the base) its final protection.
        pub(crate) fn protect(&mut self, range: Range<u64>, access: Access) -> Result<(), LoadError> {
            let prot = match access {
                Access::Execute => libc::PROT_READ | libc::PROT_EXEC,
                Access::Read => libc::PROT_READ,
                Access::Write => libc::PROT_READ | libc::PROT_WRITE,
            };
            assert!(range.start <= range.end && range.end <= self.len as u64);
            let len = (range.end - range.start) as usize;
            let address = (self.start + range.start as usize) as *mut libc::c_void;
            // SAFETY: the range lies in the mapping (asserted) and starts on a page boundary.
            if unsafe { libc::mprotect(address, len, prot) } != 0 {
                return Err(os_error("mprotect", len));
            }
            Ok(())
        }
    }

    impl Drop for Region {
        fn drop(&mut self) {
            // SAFETY: the mapping is this value's own; no pointer into it outlives the object
            // (`LoadedObject::symbol` says so).
            unsafe { libc::munmap(self.mapping, self.mapping_len) };
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod unsupported {
    use super::{Access, LoadError};
    use std::convert::Infallible;
    use std::ops::Range;

    pub(crate) const HOST_SUPPORTED: bool = false;

    pub(crate) fn page_size() -> u64 {
        4096
    }

    /// Cannot exist: [`Region::map`] always fails.
    pub(crate) struct Region(Infallible);

    impl Region {
        pub(crate) fn map(_len: u64, _align: u64) -> Result<Region, LoadError> {
            Err(LoadError::UnsupportedHost)
        }

        pub(crate) fn base(&self) -> u64 {
            match self.0 {}
        }

        pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
            match self.0 {}
        }

        pub(crate) fn protect(&mut self, _: Range<u64>, _: Access) -> Result<(), LoadError> {
            match self.0 {}
        }
    }

    #[test]
    fn loading_needs_x86_64_linux() {
        let error = crate::LoadedObject::load(&[], &|_| None).unwrap_err();
        assert_eq!(error.to_string(), "object loading needs x86-64 Linux");
    }
}
