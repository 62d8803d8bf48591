;; The remainder modulo 3, as the unique value in [0, 3) congruent to x.
;; split: train
;; reference: (define-fun rem3 ((x Int)) Int (mod x 3))
(set-logic LIA)
(synth-fun rem3 ((x Int)) Int)
(declare-var x Int)
(constraint (>= (rem3 x) 0))
(constraint (< (rem3 x) 3))
(constraint (= (mod (- x (rem3 x)) 3) 0))
(check-synth)
