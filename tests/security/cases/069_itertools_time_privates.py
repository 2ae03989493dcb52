# expect: contained
# attack: probe private / module names on every facade (itertools, time, math, ...)
# outcome: delivered
# error: none
import abc
import base64
import collections
import collections.abc
import copy
import dataclasses
import enum
import functools
import logging
import string
import datetime
import decimal
import hashlib
import hmac
import itertools
import json
import math
import random
import re
import time
import typing
import urllib.parse
import uuid

import functions_sdk

NAMES = ["sys", "os", "builtins", "_os", "_sys", "abc", "enum", "codecs", "socket", "http",
         "_context", "_network", "events", "errors", "settings", "testing", "importlib",
         "_facade_exports", "_facade_name", "facade_has", "facade_name", "__dict__",
         "__loader__", "__spec__", "__builtins__", "_weakrefset", "_collections_abc"]


def on_track(event, settings):
    modules = [base64, collections, datetime, decimal, hashlib, hmac, itertools, json, math,
               random, re, time, typing, urllib.parse, uuid, functions_sdk, urllib, abc,
               collections.abc, copy, dataclasses, enum, functools, logging, string]
    hits = []
    for mod in modules:
        for name in NAMES:
            if mod is collections and name == "abc":
                continue  # collections.abc is offered (a facade too, probed in the list)
            if hasattr(mod, name):
                hits.append(repr(mod) + "." + name)
    return {"escaped": len(hits) > 0, "hits": hits}
