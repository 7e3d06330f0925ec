//! A fixed-capacity ring of PCM frames, allocated once, used to hand
//! frames to the caller without allocating per frame.

use std::fmt;

/// Ring of `capacity` frames of `SAMPLES` samples, each with a tag. When
/// full, pushing overwrites the oldest frame.
pub(crate) struct FrameRing<const SAMPLES: usize, Tag: Copy + Default> {
    frames: Box<[[i16; SAMPLES]]>,
    tags: Box<[Tag]>,
    head: usize,
    length: usize,
    overwritten: u64,
}

impl<const SAMPLES: usize, Tag: Copy + Default> fmt::Debug for FrameRing<SAMPLES, Tag> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("FrameRing")
            .field("capacity", &self.frames.len())
            .field("length", &self.length)
            .field("overwritten", &self.overwritten)
            .finish()
    }
}

impl<const SAMPLES: usize, Tag: Copy + Default> FrameRing<SAMPLES, Tag> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            frames: vec![[0; SAMPLES]; capacity].into_boxed_slice(),
            tags: vec![Tag::default(); capacity].into_boxed_slice(),
            head: 0,
            length: 0,
            overwritten: 0,
        }
    }

    /// A slot for a new newest frame, tagged `tag`; its samples are to be
    /// written by the caller.
    pub(crate) fn push(&mut self, tag: Tag) -> &mut [i16; SAMPLES] {
        let capacity = self.frames.len();
        if self.length == capacity {
            self.head = (self.head + 1) % capacity;
            self.length -= 1;
            self.overwritten += 1;
        }
        let index = (self.head + self.length) % capacity;
        self.length += 1;
        self.tags[index] = tag;
        &mut self.frames[index]
    }

    /// The oldest frame and its tag, removed from the ring.
    pub(crate) fn pop(&mut self) -> Option<(&[i16; SAMPLES], Tag)> {
        if self.length == 0 {
            return None;
        }
        let index = self.head;
        self.head = (self.head + 1) % self.frames.len();
        self.length -= 1;
        Some((&self.frames[index], self.tags[index]))
    }

    pub(crate) fn clear(&mut self) {
        self.length = 0;
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.length == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_ring_overwrites_the_oldest_frame() {
        let mut ring: FrameRing<2, u8> = FrameRing::new(2);
        *ring.push(1) = [1, 1];
        *ring.push(2) = [2, 2];
        *ring.push(3) = [3, 3];
        assert_eq!(ring.pop(), Some((&[2, 2], 2)));
        assert_eq!(ring.pop(), Some((&[3, 3], 3)));
        assert_eq!(ring.pop(), None);
        assert!(ring.is_empty());
    }
}
