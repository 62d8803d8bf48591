;; Halve and round down.
;; split: train
;; reference: (define-fun half ((x Int)) Int (div x 2))
(set-logic LIA)
(synth-fun half ((x Int)) Int)
(declare-var x Int)
(constraint (<= (* 2 (half x)) x))
(constraint (< x (+ (* 2 (half x)) 2)))
(check-synth)
