;; Three times x minus 4, given through a shifted argument.
;; split: train
;; reference: (define-fun f ((x Int)) Int (+ (* 3 x) (- 4)))
(set-logic LIA)
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(constraint (= (f (+ x 1)) (+ (f x) 3)))
(constraint (= (f 0) (- 4)))
(check-synth)
