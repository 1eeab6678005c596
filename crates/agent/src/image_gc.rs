//! Image garbage collection by disk use, as upstream's kubelet does it: every period, when
//! the image filesystem is fuller than the high threshold, remove images no container
//! uses — least recently used first, none younger than the minimum age, never the sandbox
//! image — until it is below the low threshold.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cri::{v1 as cri, Cri};

#[derive(Clone, Debug)]
pub struct Settings {
    /// Percent of the image filesystem in use that starts a collection (100 disables it).
    pub high_percent: u8,
    /// Percent of use a collection frees down to.
    pub low_percent: u8,
    /// Images younger than this (since first seen unused) are kept.
    pub minimum_age: Duration,
    pub period: Duration,
    /// The filesystem holding the images (containerd's root).
    pub image_fs: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            high_percent: 85,
            low_percent: 80,
            minimum_age: Duration::from_secs(120),
            period: Duration::from_secs(300),
            image_fs: PathBuf::new(),
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), String> {
        if self.high_percent > 100 || self.low_percent > 100 {
            return Err("image GC thresholds are percentages (0..100)".into());
        }
        if self.low_percent > self.high_percent {
            return Err(format!(
                "--image-gc-low-threshold ({}) must not be above --image-gc-high-threshold ({})",
                self.low_percent, self.high_percent
            ));
        }
        Ok(())
    }
}

/// An image as the collector sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub id: String,
    pub size: u64,
    pub in_use: bool,
    pub pinned: bool,
    /// Unused for this long (or in use now).
    pub idle: Duration,
}

/// The images to remove to free `to_free` bytes: unused, unpinned, old enough; the longest
/// idle first. Pure.
pub fn choose(images: &[Image], to_free: u64, minimum_age: Duration) -> Vec<String> {
    let mut candidates: Vec<&Image> = images
        .iter()
        .filter(|i| !i.in_use && !i.pinned && i.idle >= minimum_age)
        .collect();
    candidates.sort_by(|a, b| b.idle.cmp(&a.idle).then(a.id.cmp(&b.id)));
    let mut freed = 0;
    let mut out = Vec::new();
    for i in candidates {
        if freed >= to_free {
            break;
        }
        freed += i.size;
        out.push(i.id.clone());
    }
    out
}

/// Runs forever. `sandbox_image` is never removed.
pub async fn run(cri: Cri, settings: Settings, sandbox_image: String) {
    if settings.high_percent >= 100 {
        return;
    }
    // When each image was last seen in use (or first seen at all).
    let mut last_used: HashMap<String, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(settings.period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = collect(&cri, &settings, &sandbox_image, &mut last_used).await {
            tracing::warn!(error = %e, "image garbage collection");
        }
    }
}

async fn collect(
    cri: &Cri,
    s: &Settings,
    sandbox_image: &str,
    last_used: &mut HashMap<String, Instant>,
) -> Result<(), crate::Error> {
    let Some((used, total)) = fs_usage(&s.image_fs) else {
        return Ok(());
    };
    let mut rt = cri.runtime.clone();
    let containers = rt
        .list_containers(cri::ListContainersRequest::default())
        .await
        .map_err(|e| crate::Error::status("ListContainers", e))?
        .into_inner()
        .containers;
    let mut img = cri.image.clone();
    let images = img
        .list_images(cri::ListImagesRequest::default())
        .await
        .map_err(|e| crate::Error::status("ListImages", e))?
        .into_inner()
        .images;
    let now = Instant::now();
    let in_use: Vec<&str> = containers.iter().map(|c| c.image_ref.as_str()).collect();
    let view: Vec<Image> = images
        .iter()
        .map(|i| {
            let using = in_use.contains(&i.id.as_str())
                || i.repo_tags.iter().any(|t| in_use.contains(&t.as_str()));
            let seen = last_used.entry(i.id.clone()).or_insert(now);
            if using {
                *seen = now;
            }
            Image {
                id: i.id.clone(),
                size: i.size,
                in_use: using,
                pinned: i.pinned || i.repo_tags.iter().any(|t| t == sandbox_image),
                idle: now.duration_since(*seen),
            }
        })
        .collect();
    last_used.retain(|id, _| images.iter().any(|i| &i.id == id));
    let percent = used.saturating_mul(100) / total.max(1);
    if percent < u64::from(s.high_percent) {
        return Ok(());
    }
    let target = total * u64::from(s.low_percent) / 100;
    let to_free = used.saturating_sub(target);
    let remove = choose(&view, to_free, s.minimum_age);
    tracing::info!(
        usage_percent = percent,
        high = s.high_percent,
        to_free,
        images = remove.len(),
        "image filesystem over its high threshold; removing unused images"
    );
    for id in remove {
        let req = cri::RemoveImageRequest {
            image: Some(crate::cri::image_spec(&id)),
        };
        if let Err(e) = img.remove_image(req).await {
            tracing::warn!(image = %id, error = %e.message(), "removing image");
        }
    }
    Ok(())
}

/// Bytes used and total of the filesystem holding `dir`.
fn fs_usage(dir: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data; zeroed is a valid value for it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a struct the call fills in.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let f = st.f_frsize as u64;
    let total = st.f_blocks as u64 * f;
    Some((total.saturating_sub(st.f_bfree as u64 * f), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(id: &str, size: u64, in_use: bool, pinned: bool, idle_s: u64) -> Image {
        Image {
            id: id.into(),
            size,
            in_use,
            pinned,
            idle: Duration::from_secs(idle_s),
        }
    }

    #[test]
    fn choosing() {
        let images = [
            img("used", 100, true, false, 0),
            img("pause", 100, false, true, 9999),
            img("young", 100, false, false, 10),
            img("old", 50, false, false, 1000),
            img("older", 50, false, false, 2000),
            img("oldest", 50, false, false, 3000),
        ];
        let min = Duration::from_secs(120);
        let cases = [
            (0, vec![]),
            (1, vec!["oldest"]),
            (60, vec!["oldest", "older"]),
            (10_000, vec!["oldest", "older", "old"]),
        ];
        for (to_free, want) in cases {
            assert_eq!(choose(&images, to_free, min), want, "{to_free}");
        }
        assert_eq!(
            choose(&images, 10_000, Duration::ZERO),
            ["oldest", "older", "old", "young"]
        );
    }

    #[test]
    fn thresholds() {
        let s = |high, low| Settings {
            high_percent: high,
            low_percent: low,
            ..Default::default()
        };
        assert!(s(85, 80).validate().is_ok());
        assert!(s(0, 0).validate().is_ok());
        assert_eq!(
            s(50, 60).validate().unwrap_err(),
            "--image-gc-low-threshold (60) must not be above --image-gc-high-threshold (50)"
        );
        assert!(s(101, 0).validate().is_err());
    }
}
