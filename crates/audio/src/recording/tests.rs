use std::f64::consts::TAU;
use std::path::PathBuf;

use super::*;
use crate::decode::decode;
use crate::scratch::ScratchDirectory;

const RATE: usize = TELEPHONY_SAMPLE_RATE as usize;

fn scratch() -> ScratchDirectory {
    ScratchDirectory::in_temporary_directory("warbler-recording-test").unwrap()
}

/// A deterministic, non-repeating ramp of distinct-looking samples.
fn ramp(count: usize, seed: i32) -> Vec<i16> {
    (0..count)
        .map(|index| ((index as i32 * 37 + seed * 1009) % 60_000 - 30_000) as i16)
        .collect()
}

/// Interleaves a caller and a sent signal into stereo frames.
fn interleave(caller: &[i16], sent: &[i16]) -> Vec<i16> {
    caller
        .iter()
        .zip(sent)
        .flat_map(|(&left, &right)| [left, right])
        .collect()
}

/// Roughly speech: a gliding 120–200 Hz voice with five harmonics, in 4 Hz syllables.
fn speech_like(seconds: f64) -> Vec<i16> {
    let count = (seconds * RATE as f64) as usize;
    let mut phase = 0.0_f64;
    (0..count)
        .map(|index| {
            let time = index as f64 / RATE as f64;
            let pitch = 160.0 + 40.0 * (TAU * 0.7 * time).sin();
            phase += TAU * pitch / RATE as f64;
            let voice: f64 = (1..=5)
                .map(|harmonic| (phase * f64::from(harmonic)).sin() / f64::from(harmonic))
                .sum();
            let syllable = (TAU * 2.0 * time).sin().abs();
            (voice * syllable * 0.3 * 32767.0).round() as i16
        })
        .collect()
}

/// The samples of a WAV file as read by hound, with its spec.
fn read_with_hound(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let samples = reader.samples::<i16>().map(Result::unwrap).collect();
    (reader.spec(), samples)
}

fn file_names(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn file_length(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn mono_recording_with_a_pause_decodes_to_exactly_the_recorded_samples() {
    let scratch = scratch();
    let mut writer =
        RecordingWriter::create(scratch.path(), "call-1", RecordingLayout::Mono).unwrap();
    assert_eq!(
        file_names(scratch.path()),
        ["call-1.wav.part"],
        "the recording is on disk from the start"
    );
    let before = ramp(12_345, 1);
    let during_pause = ramp(4_000, 2);
    let after = ramp(9_000, 3);

    // 20 ms frames as the media tap delivers them, then larger blocks.
    for frame in before.chunks(160) {
        writer.append(frame).unwrap();
    }
    writer.set_paused(true);
    assert!(writer.is_paused());
    writer.append(&during_pause).unwrap();
    assert_eq!(
        writer.duration(),
        Duration::from_secs_f64(12_345.0 / 8000.0)
    );
    writer.set_paused(false);
    writer.append(&after).unwrap();
    writer.append(&[]).unwrap();

    let finished = writer.finish().unwrap();
    let expected: Vec<i16> = before.iter().chain(&after).copied().collect();
    assert_eq!(finished.id, "call-1");
    assert_eq!(finished.path, scratch.path().join("call-1.wav"));
    assert_eq!(finished.layout, RecordingLayout::Mono);
    assert_eq!(finished.frames, expected.len() as u64);
    assert_eq!(finished.duration, Duration::from_micros(2_668_125));
    assert_eq!(file_names(scratch.path()), ["call-1.wav"]);

    let (spec, samples) = read_with_hound(&finished.path);
    assert_eq!(
        spec,
        hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        }
    );
    assert_eq!(samples, expected);

    let pcm = decode(&std::fs::read(&finished.path).unwrap(), Some("wav")).unwrap();
    assert_eq!(pcm.sample_rate, 8000);
    assert_eq!(pcm.samples, expected);

    assert_eq!(
        wav_info(&finished.path).unwrap(),
        WavInfo {
            channels: 1,
            sample_rate: 8000,
            frames: expected.len() as u64,
            duration: finished.duration,
        }
    );
}

#[test]
fn stereo_recording_keeps_the_caller_on_channel_zero() {
    let scratch = scratch();
    let mut writer =
        RecordingWriter::create(scratch.path(), "stereo", RecordingLayout::Stereo).unwrap();
    let caller = ramp(20_000, 4);
    let sent = ramp(20_000, 5);
    let stereo = interleave(&caller, &sent);
    let (first, second) = stereo.split_at(2 * 7_001);
    writer.append(first).unwrap();
    writer.set_paused(true);
    writer
        .append(&interleave(&ramp(500, 6), &ramp(500, 7)))
        .unwrap();
    writer.set_paused(false);
    writer.append(second).unwrap();
    assert_eq!(writer.duration(), Duration::from_millis(2500));

    let finished = writer.finish().unwrap();
    assert_eq!(finished.layout, RecordingLayout::Stereo);
    assert_eq!(finished.frames, 20_000);
    assert_eq!(finished.duration, Duration::from_millis(2500));

    let (spec, samples) = read_with_hound(&finished.path);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    assert_eq!(samples, stereo);
    let received: Vec<i16> = samples.iter().step_by(2).copied().collect();
    assert_eq!(received, caller);

    // The crate's decoder reads it too, averaging the two directions.
    let pcm = decode(&std::fs::read(&finished.path).unwrap(), None).unwrap();
    assert_eq!(pcm.sample_rate, 8000);
    let averaged: Vec<i16> = caller
        .iter()
        .zip(&sent)
        .map(|(&left, &right)| ((i32::from(left) + i32::from(right)) / 2) as i16)
        .collect();
    assert_eq!(pcm.samples, averaged);

    let info = wav_info(&finished.path).unwrap();
    assert_eq!(
        (info.channels, info.sample_rate, info.frames),
        (2, 8000, 20_000)
    );
}

#[test]
fn samples_reach_the_file_at_least_once_a_second_of_audio() {
    let scratch = scratch();
    for layout in [RecordingLayout::Mono, RecordingLayout::Stereo] {
        let id = format!("{layout:?}");
        let mut writer = RecordingWriter::create(scratch.path(), &id, layout).unwrap();
        let channels = usize::from(layout.channels());
        let frame_bytes = layout.frame_bytes() as u64;
        let capacity = writer.buffer.capacity();
        let frame = vec![7_i16; 160 * channels];
        let mut appended_frames = 0_u64;
        for _ in 0..200 {
            writer.append(&frame).unwrap();
            appended_frames += 160;
            let on_disk = (file_length(writer.partial_path()) - HEADER_BYTES) / frame_bytes;
            assert!(
                appended_frames - on_disk < RATE as u64,
                "{layout:?}: {on_disk} of {appended_frames} frames on disk"
            );
        }
        // A single large append is written through in one-second pieces.
        writer
            .append(&vec![1_i16; 3 * RATE * channels + 2 * channels])
            .unwrap();
        appended_frames += 3 * RATE as u64 + 2;
        let on_disk = (file_length(writer.partial_path()) - HEADER_BYTES) / frame_bytes;
        assert!(appended_frames - on_disk < RATE as u64);
        assert_eq!(writer.buffer.capacity(), capacity, "the buffer never grows");

        writer.flush().unwrap();
        let on_disk = (file_length(writer.partial_path()) - HEADER_BYTES) / frame_bytes;
        assert_eq!(on_disk, appended_frames);
        assert_eq!(writer.finish().unwrap().frames, appended_frames);
    }
}

#[test]
fn a_crash_loses_at_most_the_last_second() {
    let scratch = scratch();
    let samples = ramp(2 * RATE + 2_400, 8);
    let mut crashed =
        RecordingWriter::create(scratch.path(), "crashed", RecordingLayout::Mono).unwrap();
    crashed.append(&samples).unwrap();
    // A crash: no flush, no drop, no finish.
    std::mem::forget(crashed);

    let caller = ramp(RATE + 100, 9);
    let sent = ramp(RATE + 100, 10);
    let mut flushed =
        RecordingWriter::create(scratch.path(), "flushed", RecordingLayout::Stereo).unwrap();
    flushed.append(&interleave(&caller, &sent)).unwrap();
    flushed.flush().unwrap();
    std::mem::forget(flushed);

    let mut dropped =
        RecordingWriter::create(scratch.path(), "dropped", RecordingLayout::Mono).unwrap();
    dropped.append(&samples[..1_000]).unwrap();
    drop(dropped);

    std::fs::write(scratch.path().join("unrelated.txt"), b"keep me").unwrap();
    let recovered = recover_partial_recordings(scratch.path()).unwrap();
    let ids: Vec<&str> = recovered
        .iter()
        .map(|recording| recording.id.as_str())
        .collect();
    assert_eq!(ids, ["crashed", "dropped", "flushed"]);
    assert_eq!(
        file_names(scratch.path()),
        ["crashed.wav", "dropped.wav", "flushed.wav", "unrelated.txt"]
    );

    // Two whole seconds were written; the buffered 0.3 s is the loss.
    let crashed = &recovered[0];
    assert_eq!(crashed.frames, 2 * RATE as u64);
    assert_eq!(crashed.duration, Duration::from_secs(2));
    assert_eq!(crashed.layout, RecordingLayout::Mono);
    let (_, kept) = read_with_hound(&crashed.path);
    assert_eq!(kept, samples[..2 * RATE]);
    assert!(samples.len() - kept.len() <= RATE);

    let dropped = &recovered[1];
    assert_eq!(dropped.frames, 1_000);
    assert_eq!(read_with_hound(&dropped.path).1, samples[..1_000]);

    let flushed = &recovered[2];
    assert_eq!(flushed.layout, RecordingLayout::Stereo);
    assert_eq!(flushed.frames, RATE as u64 + 100);
    let (spec, kept) = read_with_hound(&flushed.path);
    assert_eq!(spec.channels, 2);
    assert_eq!(kept, interleave(&caller, &sent));
    let pcm = decode(&std::fs::read(&flushed.path).unwrap(), Some("wav")).unwrap();
    assert_eq!(pcm.samples.len(), RATE + 100);

    // Nothing is left to recover.
    assert!(
        recover_partial_recordings(scratch.path())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_file_cut_mid_frame_recovers_to_whole_frames() {
    let scratch = scratch();
    let caller = ramp(5_000, 11);
    let sent = ramp(5_000, 12);
    let mut writer =
        RecordingWriter::create(scratch.path(), "cut", RecordingLayout::Stereo).unwrap();
    writer.append(&interleave(&caller, &sent)).unwrap();
    let partial_path = writer.partial_path().to_path_buf();
    drop(writer);
    // 3 000 frames and 3 bytes of the next one.
    let file = OpenOptions::new().write(true).open(&partial_path).unwrap();
    file.set_len(HEADER_BYTES + 3_000 * 4 + 3).unwrap();
    drop(file);

    let recovered = recover_partial_recordings(scratch.path()).unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].frames, 3_000);
    assert_eq!(file_length(&recovered[0].path), HEADER_BYTES + 3_000 * 4);
    let (_, samples) = read_with_hound(&recovered[0].path);
    assert_eq!(samples, interleave(&caller[..3_000], &sent[..3_000]));
    assert_eq!(wav_info(&recovered[0].path).unwrap().frames, 3_000);

    // A mono file cut inside a sample, and one with nothing but its header.
    let mut writer = RecordingWriter::create(scratch.path(), "odd", RecordingLayout::Mono).unwrap();
    writer.append(&caller[..101]).unwrap();
    let partial_path = writer.partial_path().to_path_buf();
    drop(writer);
    let file = OpenOptions::new().write(true).open(&partial_path).unwrap();
    file.set_len(HEADER_BYTES + 201).unwrap();
    drop(file);
    drop(RecordingWriter::create(scratch.path(), "empty", RecordingLayout::Mono).unwrap());
    let recovered = recover_partial_recordings(scratch.path()).unwrap();
    assert_eq!(recovered.len(), 2);
    assert_eq!(
        (recovered[0].id.as_str(), recovered[0].frames),
        ("empty", 0)
    );
    assert_eq!(
        (recovered[1].id.as_str(), recovered[1].frames),
        ("odd", 100)
    );
    assert_eq!(read_with_hound(&recovered[1].path).1, caller[..100]);
}

#[test]
fn unrepairable_partial_files_are_left_in_place() {
    let scratch = scratch();
    std::fs::write(scratch.path().join("garbage.wav.part"), b"not a wav at all").unwrap();
    std::fs::write(scratch.path().join("short.wav.part"), b"RIFF\0\0").unwrap();
    // A finished recording is never overwritten by a partial one of the same name.
    let mut writer =
        RecordingWriter::create(scratch.path(), "twice", RecordingLayout::Mono).unwrap();
    writer.append(&[1, 2, 3]).unwrap();
    writer.finish().unwrap();
    let mut writer =
        RecordingWriter::create(scratch.path(), "other", RecordingLayout::Mono).unwrap();
    writer.append(&[4, 5]).unwrap();
    drop(writer);
    std::fs::rename(
        scratch.path().join("other.wav.part"),
        scratch.path().join("twice.wav.part"),
    )
    .unwrap();
    std::fs::create_dir(scratch.path().join("directory.wav.part")).unwrap();

    assert!(
        recover_partial_recordings(scratch.path())
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        file_names(scratch.path()),
        [
            "directory.wav.part",
            "garbage.wav.part",
            "short.wav.part",
            "twice.wav",
            "twice.wav.part"
        ]
    );
    assert_eq!(
        read_with_hound(&scratch.path().join("twice.wav")).1,
        [1, 2, 3]
    );
    assert!(matches!(
        recover_one(
            scratch.path(),
            "garbage",
            &scratch.path().join("garbage.wav.part")
        ),
        Err(RecordingError::InvalidWav { .. })
    ));
    assert!(matches!(
        wav_info(&scratch.path().join("short.wav.part")),
        Err(RecordingError::InvalidWav { .. })
    ));

    let missing = scratch.path().join("missing");
    assert!(recover_partial_recordings(&missing).unwrap().is_empty());
    assert!(matches!(
        wav_info(&missing),
        Err(RecordingError::Io {
            operation: RecordingOperation::Reading,
            ..
        })
    ));
}

#[test]
fn caller_mistakes_are_refused_with_typed_errors() {
    let scratch = scratch();
    for id in [
        "",
        ".hidden",
        "../escape",
        "a/b",
        "a b",
        "ü",
        &"x".repeat(201),
    ] {
        assert!(
            matches!(
                RecordingWriter::create(scratch.path(), id, RecordingLayout::Mono),
                Err(RecordingError::InvalidId { .. })
            ),
            "{id:?}"
        );
    }
    let nested = scratch.path().join("created").join("on-demand");
    let mut writer = RecordingWriter::create(
        &nested,
        "0190a8c2-7d1e-7000-8000-000000000000",
        RecordingLayout::Stereo,
    )
    .unwrap();
    assert_eq!(writer.id(), "0190a8c2-7d1e-7000-8000-000000000000");
    assert_eq!(writer.layout(), RecordingLayout::Stereo);
    let debug = format!("{writer:?}");
    assert!(
        debug.contains("buffered_bytes: 0") && !debug.contains("buffer:"),
        "{debug}"
    );
    assert!(matches!(
        RecordingWriter::create(
            &nested,
            "0190a8c2-7d1e-7000-8000-000000000000",
            RecordingLayout::Mono
        ),
        Err(RecordingError::AlreadyExists { .. })
    ));
    assert!(matches!(
        writer.append(&[1, 2, 3]),
        Err(RecordingError::IncompleteFrame {
            samples: 3,
            channels: 2
        })
    ));
    writer.set_paused(true);
    assert!(matches!(
        writer.append(&[1]),
        Err(RecordingError::IncompleteFrame { .. })
    ));
    writer.set_paused(false);
    writer.append(&[1, 2]).unwrap();

    // The WAV size limit, made small for the test.
    writer.max_frames = 3;
    writer.append(&[3, 4, 5, 6]).unwrap();
    assert!(matches!(
        writer.append(&[7, 8, 9, 10]),
        Err(RecordingError::TooLong { .. })
    ));
    let finished = writer.finish().unwrap();
    assert_eq!(read_with_hound(&finished.path).1, [1, 2, 3, 4, 5, 6]);
    assert!(matches!(
        RecordingWriter::create(
            &nested,
            "0190a8c2-7d1e-7000-8000-000000000000",
            RecordingLayout::Mono
        ),
        Err(RecordingError::AlreadyExists { .. })
    ));

    let full = max_data_bytes(HEADER_BYTES, 4) / 4;
    let writer = RecordingWriter::create(scratch.path(), "limit", RecordingLayout::Stereo).unwrap();
    assert_eq!(writer.max_frames, full);
    assert!(frames_to_duration(full, 8000) > Duration::from_secs(37 * 3600));
}

#[test]
fn a_write_error_stops_the_recording_but_keeps_what_reached_the_disk() {
    let scratch = scratch();
    let mut writer =
        RecordingWriter::create(scratch.path(), "broken", RecordingLayout::Mono).unwrap();
    let samples = ramp(RATE + 500, 13);
    writer.append(&samples).unwrap();
    // Swap the file for a read-only handle so the next write fails.
    let read_only = File::open(writer.partial_path()).unwrap();
    let writable = std::mem::replace(&mut writer.file, read_only);
    assert!(matches!(
        writer.append(&samples),
        Err(RecordingError::Io {
            operation: RecordingOperation::Writing,
            ..
        })
    ));
    assert!(matches!(
        writer.append(&samples),
        Err(RecordingError::WriterFailed)
    ));
    assert!(matches!(writer.flush(), Err(RecordingError::WriterFailed)));
    writer.file = writable;
    let finished = writer.finish().unwrap();
    assert_eq!(finished.frames, RATE as u64);
    assert_eq!(read_with_hound(&finished.path).1, samples[..RATE]);
}

#[test]
fn durations_are_exact() {
    assert_eq!(frames_to_duration(8000, 8000), Duration::from_secs(1));
    assert_eq!(frames_to_duration(1, 8000), Duration::from_micros(125));
    assert_eq!(
        frames_to_duration(44_101, 44_100),
        Duration::from_nanos(1_000_022_675)
    );
    assert_eq!(frames_to_duration(5, 0), Duration::ZERO);
    assert_eq!(
        RecordingLayout::from_channels(2),
        Some(RecordingLayout::Stereo)
    );
    assert_eq!(RecordingLayout::from_channels(3), None);
}

#[test]
fn wav_info_reads_foreign_headers() {
    let scratch = scratch();
    // A float WAV with an extra chunk, written by hound, at 44.1 kHz.
    let path = scratch.path().join("foreign.wav");
    let spec = hound::WavSpec {
        channels: 3,
        sample_rate: 44_100,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(&path, spec).unwrap();
    for _ in 0..3 * 4410 {
        writer.write_sample(0.25_f32).unwrap();
    }
    writer.finalize().unwrap();
    let info = wav_info(&path).unwrap();
    assert_eq!(
        info,
        WavInfo {
            channels: 3,
            sample_rate: 44_100,
            frames: 4410,
            duration: Duration::from_millis(100),
        }
    );
}

/// The installed `lame`, failing the test with a clear message if it is missing.
fn require_lame() {
    assert!(
        mp3_encoder_available(),
        "this test needs the `lame` MP3 encoder on PATH (apt-get install -y lame)"
    );
}

fn fake_program(directory: &Path, name: &str, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = directory.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn recordings_encode_to_mp3_of_the_same_length() {
    require_lame();
    let scratch = scratch();
    let voice = speech_like(3.0);
    let reply = speech_like(3.0).iter().rev().copied().collect::<Vec<_>>();
    for (layout, samples) in [
        (RecordingLayout::Mono, voice.clone()),
        (RecordingLayout::Stereo, interleave(&voice, &reply)),
    ] {
        let id = format!("{layout:?}");
        let mut writer = RecordingWriter::create(scratch.path(), &id, layout).unwrap();
        for frame in samples.chunks(160 * usize::from(layout.channels())) {
            writer.append(frame).unwrap();
        }
        let finished = writer.finish().unwrap();
        let mp3 = scratch.path().join(format!("{id}.mp3"));
        encode_mp3(&finished.path, &mp3, &Mp3Limits::default())
            .await
            .unwrap();
        assert!(!scratch.path().join(format!("{id}.mp3.part")).exists());
        let bytes = std::fs::read(&mp3).unwrap();
        // 32 or 64 kbit/s for 3 s, plus headers.
        let expected_bytes = 3 * 4 * usize::from(layout.channels()) * 1000;
        assert!(
            bytes.len() > expected_bytes / 2 && bytes.len() < expected_bytes * 2,
            "{layout:?}: {} bytes",
            bytes.len()
        );
        let pcm = decode(&bytes, Some("mp3")).unwrap();
        println!(
            "{layout:?}: {} bytes of MP3 at {} Hz lasting {:?}",
            bytes.len(),
            pcm.sample_rate,
            pcm.duration()
        );
        let ratio = pcm.duration().as_secs_f64() / finished.duration.as_secs_f64();
        assert!(
            (ratio - 1.0).abs() < 0.05,
            "{layout:?}: the MP3 lasts {:?} for {:?} of WAV",
            pcm.duration(),
            finished.duration
        );
        let loudness = crate::pcm::root_mean_square(&pcm.samples);
        assert!(loudness > 1000.0, "{layout:?}: rms {loudness:.0}");
    }
}

#[tokio::test]
async fn encoder_failures_are_typed_and_leave_no_output() {
    let scratch = scratch();
    let mut writer =
        RecordingWriter::create(scratch.path(), "input", RecordingLayout::Mono).unwrap();
    writer.append(&speech_like(0.5)).unwrap();
    let wav = writer.finish().unwrap().path;
    let mp3 = scratch.path().join("output.mp3");

    let missing = Mp3Limits {
        program: Some(PathBuf::from("/nonexistent/lame")),
        ..Mp3Limits::default()
    };
    match encode_mp3(&wav, &mp3, &missing).await {
        Err(Mp3Error::ProgramMissing { program }) => {
            assert_eq!(program, Path::new("/nonexistent/lame"));
        }
        other => panic!("{other:?}"),
    }

    // Writes some output, complains and fails.
    let failing = fake_program(
        scratch.path(),
        "failing-lame",
        "for last; do :; done\necho partial > \"$last\"\necho 'bad input' >&2\nexit 2",
    );
    let limits = Mp3Limits {
        program: Some(failing),
        ..Mp3Limits::default()
    };
    match encode_mp3(&wav, &mp3, &limits).await {
        Err(Mp3Error::Failed { status, stderr }) => {
            assert_eq!(status.code(), Some(2));
            assert_eq!(stderr, "bad input");
        }
        other => panic!("{other:?}"),
    }

    let hanging = fake_program(scratch.path(), "hanging-lame", "exec sleep 60");
    let limits = Mp3Limits {
        program: Some(hanging),
        timeout: Duration::from_millis(200),
    };
    assert!(matches!(
        encode_mp3(&wav, &mp3, &limits).await,
        Err(Mp3Error::Timeout { after }) if after == Duration::from_millis(200)
    ));

    let not_wav = scratch.path().join("not.wav");
    std::fs::write(&not_wav, b"hello").unwrap();
    assert!(matches!(
        encode_mp3(&not_wav, &mp3, &Mp3Limits::default()).await,
        Err(Mp3Error::InvalidInput {
            source: RecordingError::InvalidWav { .. }
        })
    ));

    assert!(!mp3.exists());
    assert!(!scratch.path().join("output.mp3.part").exists());
}

#[tokio::test]
async fn the_encoder_gets_plain_path_arguments() {
    // Records its arguments, one a line, and succeeds.
    let scratch = scratch();
    let arguments_file = scratch.path().join("arguments");
    let script = format!(
        "for argument; do echo \"$argument\"; done > '{}'\nfor last; do :; done\n: > \"$last\"",
        arguments_file.display()
    );
    let program = fake_program(scratch.path(), "lame", &script);
    let mut writer =
        RecordingWriter::create(scratch.path(), "two", RecordingLayout::Stereo).unwrap();
    writer.append(&[1, 2]).unwrap();
    let wav = writer.finish().unwrap().path;
    let mp3 = scratch.path().join("$(touch pwned); '.mp3");
    let limits = Mp3Limits {
        program: Some(program),
        ..Mp3Limits::default()
    };
    encode_mp3(&wav, &mp3, &limits).await.unwrap();
    assert!(mp3.exists());
    let arguments = std::fs::read_to_string(&arguments_file).unwrap();
    assert_eq!(
        arguments,
        format!(
            "--quiet\n-b\n64\n{}\n{}.part\n",
            wav.display(),
            mp3.display()
        )
    );
    assert!(!scratch.path().join("pwned").exists());

    assert_eq!(
        mp3::path_argument(Path::new("-rf.wav")),
        PathBuf::from("./-rf.wav").into_os_string()
    );
    assert_eq!(
        mp3::path_argument(Path::new("/tmp/-x.wav")),
        Path::new("/tmp/-x.wav").as_os_str()
    );
}
