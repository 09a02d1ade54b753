//! Large uploads (backups) go to disk as they arrive, not to memory: an unlinked temporary
//! file in the database's directory, so a server that crashes, a client that hangs up or a
//! refused upload leaves nothing behind, and a body is never held whole. The file is written
//! in pieces of `FLUSH_BYTES` on tokio's blocking threads, off the executor.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What an upload holds in memory at most before it is written out.
pub const FLUSH_BYTES: usize = 1024 * 1024;

/// An upload on its way to disk.
pub struct Spool {
    dir: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
    len: u64,
}

/// A complete upload on disk, read from its start. Gone from the disk when dropped.
#[derive(Debug)]
pub struct SpooledBody {
    pub file: File,
    pub len: u64,
}

impl Spool {
    pub fn new(dir: &Path) -> Spool {
        Spool {
            dir: dir.to_owned(),
            file: None,
            buf: Vec::new(),
            len: 0,
        }
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub async fn push(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(data);
        self.len += data.len() as u64;
        if self.buf.len() >= FLUSH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// The whole body, written out and rewound.
    pub async fn finish(mut self) -> std::io::Result<SpooledBody> {
        self.flush().await?;
        let len = self.len;
        let file = self.file.take();
        let dir = self.dir.clone();
        blocking(move || {
            let mut file = match file {
                Some(f) => f,
                None => tempfile::tempfile_in(&dir)?,
            };
            file.flush()?;
            file.seek(SeekFrom::Start(0))?;
            Ok(SpooledBody { file, len })
        })
        .await
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let (file, buf, dir) = (
            self.file.take(),
            std::mem::take(&mut self.buf),
            self.dir.clone(),
        );
        let (file, mut buf) = blocking(move || {
            let mut file = match file {
                Some(f) => f,
                None => tempfile::tempfile_in(&dir)?,
            };
            file.write_all(&buf)?;
            Ok((file, buf))
        })
        .await?;
        buf.clear();
        self.file = Some(file);
        self.buf = buf;
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| std::io::Error::other(format!("spool writer: {e}")))?
}
