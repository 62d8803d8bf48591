;; The largest multiple of 5 not above x.
;; split: train
;; reference: (define-fun m5 ((x Int)) Int (- x (mod x 5)))
(set-logic LIA)
(synth-fun m5 ((x Int)) Int)
(declare-var x Int)
(constraint (= (mod (m5 x) 5) 0))
(constraint (<= (m5 x) x))
(constraint (< x (+ (m5 x) 5)))
(check-synth)
