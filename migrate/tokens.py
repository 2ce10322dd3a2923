"""Quoted tokens of MySQL's SQL, as byte-regex fragments shared by the splitter and its readers.

A doubled quote ('it''s') tokenizes the same as two adjacent strings, so the loops need no '' case.
Possessive quantifiers never backtrack, which keeps a 1 GB string from costing more than one pass.
"""

import re

SQ = rb"'[^'\\]*+(?:\\.[^'\\]*+)*+'"
DQ = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
BQ = rb"`[^`]*+`"
# Any quoted token, to cut out before reading what surrounds it (a COMMENT may say anything).
QUOTED = re.compile(rb"|".join((SQ, DQ, BQ)), re.S)
