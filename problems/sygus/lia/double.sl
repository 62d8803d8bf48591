;; Twice the argument, given as a difference.
;; split: train
;; reference: (define-fun double ((x Int)) Int (* 2 x))
(set-logic LIA)
(synth-fun double ((x Int)) Int)
(declare-var x Int)
(constraint (= (- (double x) x) x))
(check-synth)
