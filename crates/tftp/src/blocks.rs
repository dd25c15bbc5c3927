//! Cutting a reader into TFTP blocks, with optional netascii encoding.
//!
//! Netascii (RFC 1350 via RFC 764) is served by converting on the fly: LF becomes CR LF and a
//! bare CR becomes CR NUL, which clients decode back to the original bytes, so a netascii
//! transfer round-trips any file exactly (this is what tftp-hpa does). The converted size is
//! not known in advance, so `tsize` is not acknowledged in netascii mode.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Appends the netascii encoding of `raw` to `out`.
pub fn netascii_encode(raw: &[u8], out: &mut Vec<u8>) {
    for &b in raw {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            other => out.push(other),
        }
    }
}

/// Reads successive blocks of exactly `block_size` bytes (shorter only at the end).
pub struct BlockReader {
    reader: Box<dyn AsyncRead + Send + Unpin>,
    netascii: bool,
    /// Encoded bytes not yet handed out (netascii only); at most twice a block.
    pending: Vec<u8>,
    pending_pos: usize,
    scratch: Vec<u8>,
    eof: bool,
}

impl BlockReader {
    /// Wraps `reader`; `netascii` turns on the encoding.
    pub fn new(reader: Box<dyn AsyncRead + Send + Unpin>, netascii: bool) -> Self {
        BlockReader {
            reader,
            netascii,
            pending: Vec::new(),
            pending_pos: 0,
            scratch: Vec::new(),
            eof: false,
        }
    }

    /// Appends the next block (up to `block_size` bytes) to `out` and returns its length.
    /// A length below `block_size` means the content is exhausted.
    pub async fn read_block(&mut self, out: &mut Vec<u8>, block_size: usize) -> io::Result<usize> {
        if self.netascii {
            self.read_netascii(out, block_size).await
        } else {
            self.read_octet(out, block_size).await
        }
    }

    async fn read_octet(&mut self, out: &mut Vec<u8>, block_size: usize) -> io::Result<usize> {
        let start = out.len();
        out.resize(start + block_size, 0);
        let mut filled = 0;
        while filled < block_size && !self.eof {
            let Some(dst) = out.get_mut(start + filled..) else {
                break;
            };
            let n = self.reader.read(dst).await?;
            if n == 0 {
                self.eof = true;
            }
            filled += n;
        }
        out.truncate(start + filled);
        Ok(filled)
    }

    async fn read_netascii(&mut self, out: &mut Vec<u8>, block_size: usize) -> io::Result<usize> {
        let mut produced = 0;
        while produced < block_size {
            let available = self.pending.get(self.pending_pos..).unwrap_or_default();
            if !available.is_empty() {
                let take = available.len().min(block_size - produced);
                out.extend_from_slice(available.get(..take).unwrap_or_default());
                self.pending_pos += take;
                produced += take;
                continue;
            }
            if self.eof {
                break;
            }
            self.pending.clear();
            self.pending_pos = 0;
            self.scratch.resize(block_size, 0);
            let n = self.reader.read(&mut self.scratch).await?;
            if n == 0 {
                self.eof = true;
            }
            netascii_encode(self.scratch.get(..n).unwrap_or_default(), &mut self.pending);
        }
        Ok(produced)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    async fn blocks(data: &[u8], size: usize, netascii: bool) -> Vec<Vec<u8>> {
        let mut r = BlockReader::new(Box::new(std::io::Cursor::new(data.to_vec())), netascii);
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let mut b = Vec::new();
            let n = r.read_block(&mut b, size).await.unwrap();
            assert_eq!(n, b.len());
            out.push(b);
            if n < size {
                return out;
            }
        }
        panic!("reader never ended");
    }

    #[tokio::test]
    async fn octet_blocks_end_with_a_short_block() {
        assert_eq!(blocks(b"", 4, false).await, vec![b"".to_vec()]);
        assert_eq!(
            blocks(b"abcd", 4, false).await,
            vec![b"abcd".to_vec(), vec![]]
        );
        assert_eq!(
            blocks(b"abcde", 4, false).await,
            vec![b"abcd".to_vec(), b"e".to_vec()]
        );
    }

    #[tokio::test]
    async fn netascii_encodes_and_splits() {
        let got = blocks(b"a\nb\rc", 3, true).await.concat();
        assert_eq!(got, b"a\r\nb\r\0c");
        let got = blocks(b"\n\n\n", 2, true).await;
        assert_eq!(
            got,
            vec![b"\r\n".to_vec(), b"\r\n".to_vec(), b"\r\n".to_vec(), vec![]]
        );
    }
}
