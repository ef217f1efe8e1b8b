"""VideoReader: metadata, frame-exact access across codecs, keyframe-aware seeking, accounting,
caching, and every bad-input path as a typed error."""

from __future__ import annotations

import numpy as np
import pytest

from m1.config.video import VideoConfig
from m1.video import (
    CorruptVideoError,
    DecodeTimeoutError,
    EmptyVideoError,
    UnreadableVideoError,
    VideoError,
    VideoLimitError,
    VideoNotFoundError,
    VideoReader,
    write_video,
)

N, FPS, W, H = 50, 10, 160, 96


def _frames(n: int = N):
    for i in range(n):
        img = np.full((H, W, 3), 40, np.uint8)
        img[32:64, 48:112] = i * 5  # frame index readable from the block's brightness
        yield img


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return {
        c: write_video(d / f"{c}.{ext}", _frames(), fps=FPS, codec=c, gop=10)
        for c, ext in [("h264", "mp4"), ("mpeg4", "avi"), ("mjpeg", "avi"), ("vp9", "webm")]
    }


def _index_of(img: np.ndarray) -> int:
    return int(round(float(img[40:56, 60:100].mean()) / 5))


@pytest.mark.parametrize("codec", ["h264", "mpeg4", "mjpeg", "vp9"])
def test_metadata_and_frame_exact_access(clips, codec):
    with VideoReader(clips[codec]) as v:
        i = v.info
        assert (i.width, i.height, i.frame_count) == (W, H, N)
        assert i.fps == pytest.approx(10.0)
        assert i.duration == pytest.approx(5.0)
        assert i.keyframe_times[0] == 0.0
        if codec == "mjpeg":
            assert len(i.keyframe_times) == N
        else:
            assert i.keyframe_times == pytest.approx((0.0, 1.0, 2.0, 3.0, 4.0))
        frames = v.frames_at([4.95, 0.0, 1.04, 2.5, 1.04])
        assert [f.index for f in frames] == [49, 0, 10, 25, 10]
        assert [abs(_index_of(f.image) - f.index) <= 1 for f in frames] == [True] * 5
        assert frames[0].image.shape == (H, W, 3) and frames[0].image.dtype == np.uint8


def test_keyframe_aware_seeking_and_counting(clips):
    with VideoReader(clips["h264"]) as v:
        v.frames_at([0.2, 0.5, 0.9])  # one GOP: one seek, decode forward
        assert v.counter.seeks == 1 and v.counter.decoded == 10 and v.counter.delivered == 3
        v.frames_at([3.0, 4.0])  # each beyond the next keyframe: seek, one frame each
        assert v.counter.seeks == 3 and v.counter.decoded == 12


def test_cache_hits_and_resize(clips):
    with VideoReader(clips["h264"]) as v:
        a = v.frames_at([1.0, 2.0], size=(80, 48))
        before = v.counter.snapshot()
        b = v.frames_at([2.0, 1.0], size=(80, 48))
        d = v.counter.since(before)
        assert d == {"decoded": 0, "delivered": 0, "cache_hits": 2, "seeks": 0}
        assert b[0].image is a[1].image and b[0].image.shape == (48, 80, 3)
        assert not b[0].image.flags.writeable  # shared cache entries are read-only
        assert v.frames_at([1.0], max_side=40)[0].image.shape == (24, 40, 3)


def test_keyframes_only_snaps_to_nearest_keyframe(clips):
    with VideoReader(clips["h264"]) as v:
        frames = v.frames_at([0.3, 1.6, 3.9], keyframes_only=True)
        assert [f.index for f in frames] == [0, 20, 40]
        assert v.counter.decoded == 3


def test_missing_and_not_a_file(tmp_path):
    with pytest.raises(VideoNotFoundError, match="does not exist"):
        VideoReader(tmp_path / "nope.mp4")
    with pytest.raises(VideoNotFoundError, match="not a regular file"):
        VideoReader(tmp_path)


def test_not_a_video_and_empty_file(tmp_path):
    p = tmp_path / "x.mp4"
    p.write_text("hello, I am not a video\n" * 50)
    with pytest.raises(UnreadableVideoError, match="x.mp4"):
        VideoReader(p)
    e = tmp_path / "empty.mp4"
    e.write_bytes(b"")
    with pytest.raises(UnreadableVideoError, match="empty file"):
        VideoReader(e)


def test_truncated_files(tmp_path, clips):
    # MP4 with its index (moov) at the end: cutting it loses the index -> unreadable.
    data = clips["h264"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError):
        VideoReader(cut)
    # AVI cut in half: the packet index describes only the data that is really there.
    data = clips["mjpeg"].read_bytes()
    half = tmp_path / "half.avi"
    half.write_bytes(data[: len(data) // 2])
    with VideoReader(half) as v:
        assert 10 < v.info.frame_count < N
        assert v.frames_at([0.5])[0].index == 5
        try:  # the last packet may be cut mid-frame: either decodes or is a typed error
            assert v.frames_at([v.info.duration])[0].index == v.info.frame_count - 1
        except CorruptVideoError as e:
            assert "half.avi" in str(e)


def test_zero_frame_stream(tmp_path):
    import av

    p = tmp_path / "zero.mkv"
    c = av.open(str(p), "w")
    s = c.add_stream("mpeg4", rate=10)
    s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
    c.start_encoding()
    c.close()
    with pytest.raises((EmptyVideoError, UnreadableVideoError)):
        VideoReader(p)


def test_limits(clips):
    with pytest.raises(VideoLimitError, match="160x96"):
        VideoReader(clips["h264"], VideoConfig(max_width=100))
    with pytest.raises(VideoLimitError, match="max_duration"):
        VideoReader(clips["h264"], VideoConfig(max_duration=2.0))
    with VideoReader(clips["h264"]) as v:
        with pytest.raises(VideoLimitError):
            v.frames_at([1.0], size=(100000, 10))
        with pytest.raises(ValueError, match="finite"):
            v.frames_at([float("nan")])


def test_decode_timeout(clips):
    with VideoReader(clips["h264"], VideoConfig(decode_timeout=1e-9)) as v:
        with pytest.raises(DecodeTimeoutError, match="decode_timeout"):
            v.frames_at([0.5, 3.5])


def test_corrupt_payload_is_typed(tmp_path, clips):
    data = bytearray(clips["mpeg4"].read_bytes())
    # Overwrite the middle of the stream with garbage, keep the container headers.
    for i in range(len(data) // 3, len(data) * 2 // 3):
        data[i] = (i * 7919) % 256
    p = tmp_path / "garbled.avi"
    p.write_bytes(bytes(data))
    try:
        with VideoReader(p) as v:
            frames = v.frames_at(np.linspace(0, v.info.duration, 12).tolist())
            assert len(frames) == 12  # FFmpeg concealed the damage: still a full answer
    except VideoError as e:
        assert "garbled.avi" in str(e)


def test_container_is_chosen_from_the_bytes():
    from m1.video.reader import sniff_container

    assert sniff_container(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00") == "mov"
    assert sniff_container(b"\x00\x00\x00\x08free\x00\x00\x00\x08mdat") == "mov"
    assert sniff_container(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01") == "matroska"
    assert sniff_container(b"RIFF\x10\x00\x00\x00AVI LIST") == "avi"
    for other in (b"#EXTM3U\n#EXT-X-VERSION:3\n", b"ffconcat version 1.0\n", b"file '/etc/passwd'\n",
                  b"RIFF\x10\x00\x00\x00WAVEfmt ", b"\x47\x40\x00\x10" * 4, b"", b"ftyp"):
        assert sniff_container(other) is None, other


def test_playlists_and_lists_are_refused_and_real_videos_open_by_content(tmp_path, clips):
    secret = clips["h264"]
    for name, text in {
        "a.m3u8": f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:5.0,\n{secret}\n#EXT-X-ENDLIST\n",
        "b.mp4": f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:5.0,\nfile://{secret}\n#EXT-X-ENDLIST\n",
        "c.ffconcat": f"ffconcat version 1.0\nfile '{secret}'\n",
        "d.txt": "".join(f"line {i} of a text file\n" for i in range(400)),  # FFmpeg's tty demuxer plays it
    }.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(UnreadableVideoError, match="not a supported video container"):
            VideoReader(tmp_path / name)
    for codec in ("h264", "vp9", "mjpeg"):  # a suffix that lies changes nothing
        renamed = tmp_path / f"{codec}.m3u8"
        renamed.write_bytes(clips[codec].read_bytes())
        with VideoReader(renamed) as v:
            assert v.info.frame_count == N and v.info.container in ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi")
