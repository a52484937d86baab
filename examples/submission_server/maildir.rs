//! Accepted messages go to a Maildir: written under `tmp/`, synced, and
//! moved into `new/` only after the whole body is in and before the final
//! `250` is sent. A client that vanishes mid-DATA leaves no partial message.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A Maildir folder.
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
    hostname: String,
}

/// One message being received.
#[derive(Debug)]
pub struct Delivery {
    file: File,
    tmp: PathBuf,
    name: String,
}

impl Maildir {
    /// Opens (creating) `root/{tmp,new,cur}`.
    pub fn open(root: &Path, hostname: &str) -> io::Result<Self> {
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(Self {
            root: root.to_owned(),
            hostname: hostname.replace(['/', ':'], "_"),
        })
    }

    /// Starts a message in `tmp/` and writes its `Received:` header.
    pub fn begin(&self, received: &str) -> io::Result<Delivery> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{}.M{}P{}Q{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            n,
            self.hostname
        );
        let tmp = self.root.join("tmp").join(&name);
        let mut file = File::create(&tmp)?;
        file.write_all(received.as_bytes())?;
        Ok(Delivery { file, tmp, name })
    }

    /// Syncs the message and moves it into `new/`: after this it exists
    /// exactly once, whatever happens to the connection.
    pub fn commit(&self, mut delivery: Delivery) -> io::Result<PathBuf> {
        delivery.file.flush()?;
        delivery.file.sync_all()?;
        let dest = self.root.join("new").join(&delivery.name);
        fs::rename(&delivery.tmp, &dest)?;
        Ok(dest)
    }

    /// Throws a partial message away.
    pub fn abort(&self, delivery: Delivery) {
        let _ = fs::remove_file(&delivery.tmp);
    }
}

impl Delivery {
    /// Appends body bytes.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }
}

/// The `Received:` header (RFC 5321 §4.4, RFC 3848 `with ESMTPSA`), naming
/// the authenticated identity as Postfix and Dovecot do.
pub fn received_header(
    helo: &str,
    peer: std::net::IpAddr,
    identity: Option<&str>,
    hostname: &str,
    with: &str,
    id: &str,
) -> String {
    let helo: String = helo
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    let auth = match identity {
        Some(who) => {
            let who: String = who.chars().filter(|c| !c.is_control()).take(255).collect();
            format!("\r\n\t(Authenticated sender: {who})")
        }
        None => String::new(),
    };
    format!(
        "Received: from {helo} ([{peer}]){auth}\r\n\tby {hostname} (smtp-auth) with {with} id {id};\r\n\t{}\r\n",
        rfc5322_date(SystemTime::now())
    )
}

/// `Sun, 29 Nov 2026 16:24:04 +0000`.
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[(days.rem_euclid(7)) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_795_969_644);
        assert_eq!(rfc5322_date(t), "Sun, 29 Nov 2026 16:27:24 +0000");
    }
}
