#!/usr/bin/env python3
"""Text-line images with orientation labels for PP-OCR's direction classifier (test data only; not a
dependency of mc). Renders COUNT lines of 48x192 (the classifier's input: PaddleOCR's cls_image_shape
3,48,192) with Debian's fonts-dejavu-core through python3-pil: three random words, dark ink on a light
background, a random font and size, Gaussian noise. Every odd line is rotated by 180 degrees, so the
labels are 0 (upright, PaddleOCR's label '0') and 1 ('180'). Preprocessed as PaddleOCR's cls does:
BGR, x/255, then (x - 0.5) / 0.5, CHW. Writes OUT_DIR/x.npy (float32 [COUNT,3,48,192]) and
OUT_DIR/y.npy (int64 [COUNT]). Deterministic for a seed.

usage: corpus-cls-lines.py OUT_DIR --count N --seed S
"""
import argparse
import glob
import os
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WORDS = ('the quick brown fox jumps over lazy dog model release pipeline quantize prune tensor graph '
         'weight 2026 invoice total amount paid').split()


def render(rng, fonts):
    bg = tuple(rng.randint(170, 255) for _ in range(3))
    ink = tuple(rng.randint(0, 80) for _ in range(3))
    img = Image.new('RGB', (192, 48), bg)
    font = ImageFont.truetype(rng.choice(fonts), rng.randint(22, 32))
    ImageDraw.Draw(img).text((rng.randint(0, 12), rng.randint(2, 10)), ' '.join(rng.choice(WORDS) for _ in range(3)), fill=ink, font=font)
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 4, (48, 192, 3))
    return np.clip(np.asarray(img, np.float32) + noise, 0, 255)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('out')
    p.add_argument('--count', type=int, required=True)
    p.add_argument('--seed', type=int, required=True)
    a = p.parse_args()
    fonts = sorted(glob.glob('/usr/share/fonts/truetype/dejavu/*.ttf'))
    if not fonts:
        raise SystemExit('no DejaVu fonts (Debian: fonts-dejavu-core)')
    rng = random.Random(a.seed)
    x = np.empty((a.count, 3, 48, 192), np.float32)
    y = np.empty((a.count,), np.int64)
    for i in range(a.count):
        rgb = render(rng, fonts)
        if i % 2:
            rgb = rgb[::-1, ::-1]
        x[i] = ((rgb[:, :, ::-1] / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
        y[i] = i % 2
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, 'x.npy'), x)
    np.save(os.path.join(a.out, 'y.npy'), y)


if __name__ == '__main__':
    main()
