"""SyGuS problem texts shared by several test modules."""

MAX2 = """(set-logic LIA)
(synth-fun max2 ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (>= (max2 x y) x))
(constraint (>= (max2 x y) y))
(constraint (or (= x (max2 x y)) (= y (max2 x y))))
(check-synth)
"""

# A counter invariant: x and y climb together from 0 to 10.
INV = """(set-logic LIA)
(synth-inv inv-f ((x Int) (y Int)))
(define-fun pre-f ((x Int) (y Int)) Bool (and (= x 0) (= y 0)))
(define-fun trans-f ((x Int) (y Int) (x! Int) (y! Int)) Bool (and (< x 10) (= x! (+ x 1)) (= y! (+ y 1))))
(define-fun post-f ((x Int) (y Int)) Bool (=> (>= x 10) (= y 10)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
"""


# Contradictory constraints: no candidate can verify.
IMPOSSIBLE = """(set-logic LIA)
(synth-fun g ((x Int)) Int)
(declare-var x Int)
(constraint (= (g 0) 0))
(constraint (= (g 0) 1))
(check-synth)
"""
