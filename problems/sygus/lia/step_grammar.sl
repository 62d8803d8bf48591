;; A step function over constants, with the threshold and levels left to the solver.
;; split: train
;; reference: (define-fun step ((x Int)) Int (ite (> x 12) 3 (- 2)))
(set-logic LIA)
(synth-fun step ((x Int)) Int
  ((Start Int) (B Bool) (C Int))
  ((Start Int (C (ite B Start Start)))
   (B Bool ((> x C) (< x C)))
   (C Int ((Constant Int)))))
(declare-var x Int)
(constraint (=> (> x 12) (= (step x) 3)))
(constraint (=> (<= x 12) (= (step x) (- 2))))
(check-synth)
