"""Quoted tokens of MySQL's SQL, as byte-regex fragments shared by the splitter and its readers.

A doubled quote ('it''s') tokenizes the same as two adjacent strings, so the loops need no '' case.
Possessive quantifiers never backtrack, which keeps a 1 GB string from costing more than one pass.
"""

SQ = rb"'[^'\\]*+(?:\\.[^'\\]*+)*+'"
DQ = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
BQ = rb"`[^`]*+`"
