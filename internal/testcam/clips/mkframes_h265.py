#!/usr/bin/env python3
# Writes the .frames index of an Annex B H.265 clip: access unit sizes from
# the byte stream, times and keyframe flags from ffprobe on the MP4 it was
# copied from. Usage: mkframes.py clip.mp4 clip.h265 clip.frames
import subprocess, sys
mp4, raw, out = sys.argv[1:4]
data = open(raw, 'rb').read()
# Access units begin at an AUD, VPS, SPS, PPS or prefix SEI after a
# picture, or at a slice with first_slice_segment_in_pic_flag after one
# (H.265 7.4.2.4.4); leading zero bytes belong to the unit that follows.
starts = [0]
seen_vcl = False
i = 0
while True:
    j = data.find(b'\x00\x00\x01', i)
    if j < 0 or j + 4 >= len(data):
        break
    typ = (data[j+3] >> 1) & 0x3f
    k = j
    while k > starts[-1] and data[k-1] == 0:
        k -= 1
    if typ < 32:
        if seen_vcl and data[j+5] & 0x80:
            starts.append(k)
        seen_vcl = True
    elif seen_vcl and (typ in (32, 33, 34, 35, 39) or 41 <= typ <= 44):
        starts.append(k)
        seen_vcl = False
    i = j + 3
starts.append(len(data))
sizes = [b - a for a, b in zip(starts, starts[1:])]
pk = subprocess.run(['ffprobe', '-v', 'error', '-select_streams', 'v', '-show_entries',
                     'packet=pts,dts,flags', '-show_entries', 'stream=time_base', '-of', 'csv=p=0', mp4],
                    capture_output=True, text=True, check=True).stdout.split()
tb = [l for l in pk if '/' in l][0]
num, den = map(int, tb.split('/'))
rows = [l.split(',') for l in pk if '/' not in l]
assert len(rows) == len(sizes), (len(rows), len(sizes))
def t90(v): return int(v) * 90000 * num // den
with open(out, 'w') as f:
    f.write('# size_bytes,pts_90k,dts_90k,keyframe  (one Annex B access unit of %s per line, in decode order)\n' % raw.split('/')[-1])
    for s, (pts, dts, flags) in zip(sizes, rows):
        f.write('%d,%d,%d,%d\n' % (s, t90(pts), t90(dts), 1 if 'K' in flags else 0))
