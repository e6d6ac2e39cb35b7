#!/usr/bin/python3
"""Qwen2's pre-tokenizer split by Python's `regex` module (Debian's python3-regex), for checking kiln's.

usage: reference_pretokenize.py INPUTS OUT.json
INPUTS holds texts separated by lines "__ggml_vocab_test__" (llama.cpp's .inp format); OUT gets
a JSON list with, per text, the list of its pre-tokens: the matches of the pattern in Qwen2's
tokenizer.json (pre_tokenizer Split, behavior Isolated), which together cover the whole text.
"""
import json
import sys

import regex

QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
         r"|\s+(?!\S)|\s+")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        texts = f.read().split("\n__ggml_vocab_test__\n")
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump([regex.findall(QWEN2, t) for t in texts], f, ensure_ascii=False)


if __name__ == "__main__":
    main()
