;; Subtraction that stops at zero.
;; split: heldout
;; reference: (define-fun monus ((x Int) (y Int)) Int (ite (>= x y) (- x y) 0))
(set-logic LIA)
(synth-fun monus ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (>= (monus x y) 0))
(constraint (>= (monus x y) (- x y)))
(constraint (or (= (monus x y) 0) (= (+ (monus x y) y) x)))
(check-synth)
