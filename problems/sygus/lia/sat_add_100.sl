;; Addition that saturates at 100.
;; split: train
;; reference: (define-fun sadd ((x Int) (y Int)) Int (ite (> (+ x y) 100) 100 (+ x y)))
(set-logic LIA)
(synth-fun sadd ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (<= (sadd x y) 100))
(constraint (=> (<= (+ x y) 100) (= (sadd x y) (+ x y))))
(constraint (=> (> (+ x y) 100) (= (sadd x y) 100)))
(check-synth)
