# Independent numpy (float64, data-space SVD/QR) computation of SVCCA, PWCCA and linear CKA on
# /work/shared/fixtures/cca, used as constants in test/analysis/cca.test.ts. Run: python3 numpy_reference.py
# (numpy 2.4.6 gave the values in the test). get_cca is a port of google/svcca cca_core.get_cca_similarity;
# pwcca is Morcos et al. with the whitened canonical directions of the smaller layer and centred activations.
import numpy as np, json
import os, sys
d=(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared/fixtures/cca'))+'/'
a1=np.fromfile(d+'acts1.f32',dtype='<f4').reshape(64,10000).astype(np.float64)
a2=np.fromfile(d+'acts2.f32',dtype='<f4').reshape(48,10000).astype(np.float64)

def pdsqrt(a):
    w,v=np.linalg.eigh(a); w=np.sqrt(np.maximum(w,0)); return v@np.diag(w)@v.T
def get_cca(acts1,acts2,epsilon=0.,threshold=0.98):
    numx=acts1.shape[0]; numy=acts2.shape[0]
    cov=np.cov(acts1,acts2)
    sxx=cov[:numx,:numx].copy(); sxy=cov[:numx,numx:].copy(); syy=cov[numx:,numx:].copy()
    xmax=np.max(np.abs(sxx)); ymax=np.max(np.abs(syy))
    sxx/=xmax; syy/=ymax; sxy/=np.sqrt(xmax*ymax)
    xi=np.abs(np.diag(sxx))>=epsilon; yi=np.abs(np.diag(syy))>=epsilon
    sxx=sxx[xi][:,xi]; syy=syy[yi][:,yi]; sxy=sxy[xi][:,yi]
    sxx+=epsilon*np.eye(sxx.shape[0]); syy+=epsilon*np.eye(syy.shape[0])
    ix=pdsqrt(np.linalg.pinv(sxx)); iy=pdsqrt(np.linalg.pinv(syy))
    arr=ix@sxy@iy
    u,s,v=np.linalg.svd(arr)
    s=np.abs(s)
    idx=None
    for i in range(len(s)):
        if np.sum(s[:i])/np.sum(s)>=threshold: idx=i; break
    return dict(s=s,mean=np.mean(s[:idx]),u=u,v=v,ix=ix,iy=iy,xi=xi,yi=yi)

def svcca(a,b,frac=0.99,eps=1e-10):
    out=[]
    for x in (a,b):
        c=x-x.mean(axis=1,keepdims=True)
        U,s,V=np.linalg.svd(c,full_matrices=False)
        k=int(np.searchsorted(np.cumsum(s**2)/np.sum(s**2),frac)+1)
        out.append((s[:k,None]*V[:k],k))
    r=get_cca(out[0][0],out[1][0],epsilon=eps)
    return r['mean'],out[0][1],out[1][1]

def pwcca(a,b,eps=1e-10):
    r=get_cca(a,b,epsilon=eps)
    if r['xi'].sum()<=r['yi'].sum():
        acts=a[r['xi']]; dirs=(r['ix']@r['u']).T  # columns of ix@u are canonical directions
    else:
        acts=b[r['yi']]; dirs=(r['iy']@r['v'].T).T
    k=len(r['s'])
    c=acts-acts.mean(axis=1,keepdims=True)
    H=dirs[:k]@c
    Q,_=np.linalg.qr(H.T)
    w=np.sum(np.abs(Q.T@c.T),axis=1); w/=w.sum()
    return float(np.sum(w*r['s']))

print(json.dumps(dict(
  svcca=svcca(a1,a2), pwcca12=pwcca(a1,a2), pwcca21=pwcca(a2,a1),
  cka=float(np.linalg.norm((a2-a2.mean(1,keepdims=True))@(a1-a1.mean(1,keepdims=True)).T)**2/(np.linalg.norm((a1-a1.mean(1,keepdims=True))@(a1-a1.mean(1,keepdims=True)).T)*np.linalg.norm((a2-a2.mean(1,keepdims=True))@(a2-a2.mean(1,keepdims=True)).T))),
  cca_eps=get_cca(a1,a2,epsilon=1e-10)['mean'],
)))
