# A one-byte boolean for the flags of objects made once per connection:
# C99's bool, which Cython handles as a bint (True and False to and from
# Python), in a quarter of a bint's int.
cdef extern from "<stdbool.h>":
    ctypedef bint flag "bool"
