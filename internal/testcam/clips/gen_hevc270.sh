#!/bin/sh
# Makes the H.265 test clip hevc270 (480x270, 25 fps, 4 s, Main, 1 s closed
# GOPs, 3 B-frames: 270 lines need a conformance window, since x265 codes
# 272). The byte stream comes from the MP4 through hevc_mp4toannexb, which
# puts VPS/SPS/PPS in front of every IDR as cameras do.
set -e
cd "$(dirname "$0")"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=480x270:rate=25 -t 4 \
  -pix_fmt yuv420p -c:v libx265 -preset fast \
  -x265-params "keyint=25:min-keyint=25:open-gop=0:bframes=3:b-adapt=0:crf=32:log-level=error" \
  -tag:v hvc1 /tmp/hevc270.mp4
ffmpeg -hide_banner -loglevel error -y -i /tmp/hevc270.mp4 -c copy -bsf:v hevc_mp4toannexb -f hevc hevc270.h265
python3 mkframes_h265.py /tmp/hevc270.mp4 hevc270.h265 hevc270.frames
